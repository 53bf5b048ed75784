import { writeFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import {
  limits,
  OUTPUT_FORMATS,
  parseDurationMs,
  ProbeError,
  ProbeServer,
  readChecksFile,
  renderJunit,
  renderResults,
  runChecks,
  splitAddress,
  type Check,
  type OutputFormat,
} from '../observe/probe/index.js';
import { EXIT_PERMANENT } from './exit-codes.js';

/**
 * `keel probe run|serve CHECKS.yaml`: synthetic checks (HTTP, KV round trip,
 * gRPC health, TCP) after a release, in a pipeline or on a schedule.
 *
 * Exit codes of `run`: 0 every check passed; 99 at least one failed; 2 the
 * checks file is missing or invalid; 1 a bad flag or a runtime error.
 * `serve` exits 2 on a bad file, 78 when it cannot listen, 0 on SIGTERM/SIGINT.
 */
export const EXIT_CHECKS_FAILED = 99;
export const EXIT_BAD_CHECKS_FILE = 2;
export const EXIT_USAGE = 1;

export interface RunFlags {
  junit?: string;
  writeOut: OutputFormat;
  concurrency: string;
}

/** Where a command writes: stdout for results, stderr for errors (tests pass their own). */
export interface ProbeIo {
  out(text: string): void;
  err(text: string): void;
}

const consoleIo: ProbeIo = { out: (text) => console.log(text), err: (text) => console.error(text) };

interface ServeFlags {
  listen: string;
  interval: string;
  concurrency: string;
}

export function probeCommand(): Command {
  const probe = new Command('probe').description('synthetic checks from a YAML file: HTTP, KV round trip, gRPC health, TCP');
  probe
    .command('run')
    .description('run every check once; exit 0 all passed, 99 some failed, 2 bad checks file')
    .argument('<checks>', 'the checks file (YAML)')
    .option('--junit <file>', 'also write the results as JUnit XML')
    .addOption(new Option('-w, --write-out <format>', 'output format').choices([...OUTPUT_FORMATS]).default('table'))
    .option('--concurrency <n>', 'checks in flight at once', String(limits.CONCURRENCY_DEFAULT))
    .action(async (file: string, flags: RunFlags) => {
      process.exitCode = await probeRun(file, flags);
    });
  probe
    .command('serve')
    .description('run the checks on a schedule and export probe_success, probe_duration_seconds and probe_http_status_code at /metrics')
    .argument('<checks>', 'the checks file (YAML)')
    .requiredOption('--listen <host:port>', 'where to serve /metrics, /results, /livez, /readyz')
    .option('--interval <duration>', 'how often each check runs (a run never overlaps the previous one of the same check)', '15s')
    .option('--concurrency <n>', 'checks in flight at once', String(limits.CONCURRENCY_DEFAULT))
    .action(async (file: string, flags: ServeFlags) => {
      process.exitCode = await withExitCodes('serve', consoleIo, () => serve(file, flags));
    });
  return probe;
}

/** `keel probe run` as a function: prints the results and returns the exit code (0, 99, 2 or 1). */
export function probeRun(file: string, flags: RunFlags, io: ProbeIo = consoleIo): Promise<number> {
  return withExitCodes('run', io, () => runOnce(file, flags, io));
}

async function withExitCodes(command: string, io: ProbeIo, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (error) {
    if (!ProbeError.is(error)) throw error;
    io.err(`keel probe ${command}: ${error.message} (${error.code})`);
    return error.code === 'KEEL_PROBE_BAD_CHECKS_FILE' ? EXIT_BAD_CHECKS_FILE : EXIT_USAGE;
  }
}

async function runOnce(file: string, flags: RunFlags, io: ProbeIo): Promise<number> {
  const concurrency = parseConcurrency(flags.concurrency);
  const checks = readChecksFile(file);
  const startedAt = new Date();
  const started = performance.now();
  const results = await runChecks(checks, { concurrency });
  const elapsedMs = performance.now() - started;
  io.out(renderResults(results, flags.writeOut));
  if (flags.junit !== undefined) {
    try {
      writeFileSync(flags.junit, renderJunit({ suiteName: file, startedAt, elapsedMs }, results));
    } catch (error) {
      throw new ProbeError('KEEL_PROBE_USAGE', `--junit: cannot write ${flags.junit}: ${(error as Error).message}`);
    }
  }
  return results.every((result) => result.ok) ? 0 : EXIT_CHECKS_FAILED;
}

async function serve(file: string, flags: ServeFlags): Promise<number> {
  const concurrency = parseConcurrency(flags.concurrency);
  const listen = splitAddress(flags.listen);
  if (listen === undefined) throw new ProbeError('KEEL_PROBE_USAGE', `--listen: '${flags.listen}' is not host:port`);
  const intervalMs = parseDurationMs(flags.interval);
  if (intervalMs === undefined || intervalMs < limits.INTERVAL_MS_MIN || intervalMs > limits.INTERVAL_MS_MAX) {
    throw new ProbeError('KEEL_PROBE_USAGE', `--interval: '${flags.interval}' is not a duration from ${limits.INTERVAL_MS_MIN}ms to 24h (write 15s, 1m)`);
  }
  const checks = readChecksFile(file);
  warnSlowChecks(checks, intervalMs);
  let server: ProbeServer;
  try {
    server = await ProbeServer.start(checks, { host: listen.host, port: listen.port, intervalMs, concurrency, onResult: logFailure });
  } catch (error) {
    console.error(`keel probe serve: cannot listen on ${flags.listen}: ${(error as Error).message}`);
    return EXIT_PERMANENT;
  }
  console.error(JSON.stringify({ level: 'info', msg: 'keel probe serving', listen: `${listen.host}:${server.port}`, checks: checks.length, intervalMs }));
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  await server.close();
  console.error(JSON.stringify({ level: 'info', msg: 'keel probe stopped', signal }));
  return 0;
}

/** A failed run is logged as one JSON line (passes only show in /metrics, so a healthy service logs nothing). */
function logFailure(result: { ok: boolean; name: string; message?: string; durationMs: number }): void {
  if (result.ok) return;
  console.error(JSON.stringify({ level: 'warn', msg: 'check failed', check: result.name, reason: result.message, durationMs: Math.round(result.durationMs) }));
}

function warnSlowChecks(checks: readonly Check[], intervalMs: number): void {
  const slow = checks.filter((check) => check.timeoutMs > intervalMs).map((check) => check.name);
  if (slow.length === 0) return;
  console.error(JSON.stringify({ level: 'warn', msg: 'checks whose timeout is longer than the interval: a slow run skips the slots it covers', intervalMs, checks: slow }));
}

function parseConcurrency(text: string): number {
  const value = Number(text);
  if (!(Number.isInteger(value) && value >= 1 && value <= limits.CONCURRENCY_MAX)) throw new ProbeError('KEEL_PROBE_USAGE', `--concurrency: '${text}' is not an integer from 1 to ${limits.CONCURRENCY_MAX}`);
  return value;
}
