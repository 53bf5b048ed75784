import { Command, InvalidArgumentError } from 'commander';
import cluster from 'node:cluster';
import { unwatchFile, watchFile } from 'node:fs';
import { availableParallelism } from 'node:os';
import type { Logger } from 'pino';
import { Gateway, type GatewayOptions } from '../gateway/gateway.js';
import { type GatewayConfig, parseGatewayYaml, readGatewayConfig } from '../gateway/config.js';
import { WORKERS_MAX } from '../gateway/limits.js';
import { GatewaySupervisor, WorkerFailedError } from '../gateway/workers/supervisor.js';
import { WORKER_SLOT_ENV, WorkerAgent, workerConfig, WORKERS_ENV } from '../gateway/workers/worker.js';
import { createPinoLogger, parseLogFormat } from '../node/logger.js';
import type { LogFormat } from '../node/logger.js';
import { EXIT_PERMANENT } from './exit-codes.js';

interface GatewayFlags {
  config: string;
  logLevel: string;
  logFormat: LogFormat;
  watch?: boolean;
  workers: number;
}

/** `--workers`: a count 1..WORKERS_MAX, or `auto` (one per core). */
function parseWorkers(value: string): number {
  const count = value === 'auto' ? availableParallelism() : Number(value);
  if (!Number.isInteger(count) || count < 1) throw new InvalidArgumentError('expected a whole number of workers, at least 1, or auto');
  return Math.min(count, WORKERS_MAX);
}

/** `keel gateway --config gw.yaml`: the L7 load balancer. SIGHUP reloads the config; SIGTERM/SIGINT drain and exit. */
export function gatewayCommand(): Command {
  return new Command('gateway')
    .description('run the keel L7 gateway (SIGHUP reloads the config without dropping connections; SIGTERM drains)')
    .requiredOption('--config <file>', 'gateway YAML config (see docs/gateway.md)')
    .option('--log-level <level>', 'debug, info, warn, error or silent (default info)', 'info')
    .option('--log-format <format>', 'json (pino lines, ISO time) or pretty (readable lines)', parseLogFormat, 'json' as LogFormat)
    .option('--watch', 'also reload when the config file changes')
    .option('--workers <n>', `worker processes sharing the listeners, 1..${WORKERS_MAX} or auto (one per core); rate limits stay global (docs/gateway.md, "Workers")`, parseWorkers, 1)
    .action(async (flags: GatewayFlags) => {
      if (cluster.isWorker) {
        process.exitCode = await runWorker(flags);
        // The IPC channel would keep the process alive: close it (the primary then sees the exit code).
        cluster.worker?.disconnect();
      } else if (flags.workers > 1) process.exitCode = await runPrimary(flags);
      else process.exitCode = await runGateway(flags);
    });
}

/** A bind error's host:port, from the fields Node sets on it. */
function bindAddressOf(error: unknown): string {
  const { address, port } = error as { address?: unknown; port?: unknown };
  return typeof port === 'number' ? `${typeof address === 'string' ? address : '0.0.0.0'}:${port}` : 'a listener address';
}

/** How often `--watch` stats the file (polling survives editors that replace the file rather than write it). */
const WATCH_INTERVAL_MS = 500;
/** Editors write a file in several steps: wait this long after the last change before reloading. */
const WATCH_DEBOUNCE_MS = 200;

/** The config file's text and its validated config, or undefined after saying why. */
function readConfig(file: string): { text: string; config: GatewayConfig } | undefined {
  try {
    return readGatewayConfig(file);
  } catch (error) {
    console.error(`keel gateway: ${(error as Error).message}`);
    return undefined;
  }
}

function loggerFor(flags: GatewayFlags, bindings: Record<string, unknown> = {}): Logger {
  return createPinoLogger({ level: flags.logLevel, format: flags.logFormat, bindings: { part: 'gateway', ...bindings } });
}

/** Starts the gateway, or says why it could not and returns the exit code (EXIT_PERMANENT for a bind error a restart cannot fix). */
async function startGateway(options: GatewayOptions, file: string, log: Logger): Promise<Gateway | number> {
  try {
    return await Gateway.start(options);
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    const address = bindAddressOf(error);
    const message = code === 'EADDRINUSE' ? `${address} is already in use by another process (EADDRINUSE); stop it or change the listener's port in ${file}` : (error as Error).message;
    log.error({ code, address }, `could not start: ${message}`);
    console.error(`keel gateway: ${message}`);
    // The exit code a restart cannot fix (as keel node's): keel up does not restart it.
    return code === 'EADDRINUSE' || code === 'EADDRNOTAVAIL' || code === 'EACCES' ? EXIT_PERMANENT : 1;
  }
}

/** SIGHUP (and with --watch, a change to the file) calls `reload`; returns the function that stops watching. */
function reloadOnSignal(file: string, watchChanges: boolean, reload: () => void): () => void {
  process.on('SIGHUP', reload);
  let debounce: ReturnType<typeof setTimeout> | undefined;
  if (watchChanges) {
    watchFile(file, { interval: WATCH_INTERVAL_MS }, () => {
      clearTimeout(debounce);
      debounce = setTimeout(reload, WATCH_DEBOUNCE_MS);
    });
  }
  return () => {
    if (watchChanges) unwatchFile(file);
    clearTimeout(debounce);
  };
}

/** Waits for SIGTERM or SIGINT, then runs `drain`. */
function drainOnSignal(log: Logger, drain: () => Promise<void>): Promise<void> {
  return new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      log.info({ signal }, 'draining');
      void drain().then(resolve);
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}

async function runGateway(flags: GatewayFlags): Promise<number> {
  const file = flags.config;
  const read = readConfig(file);
  if (read === undefined) return 1;
  const log = loggerFor(flags);
  const gateway = await startGateway({ config: read.config, configFile: file, log }, file, log);
  if (typeof gateway === 'number') return gateway;
  log.info({ ports: gateway.ports, admin: gateway.adminPort }, 'gateway listening');
  // A refused reload is logged once, by the gateway, with its code and message.
  const unwatch = reloadOnSignal(file, flags.watch === true, () => void gateway.reloadFromFile());
  await drainOnSignal(log, () => gateway.drain());
  unwatch();
  log.info('gateway stopped');
  return 0;
}

/**
 * The primary of `--workers N`: forks the workers, supervises them, serves
 * the admin port. Exits 0 after a drain, or with the code of a worker that
 * could not start or failed for good (EXIT_PERMANENT when it could not bind).
 */
async function runPrimary(flags: GatewayFlags): Promise<number> {
  const file = flags.config;
  const read = readConfig(file);
  if (read === undefined) return 1;
  const log = loggerFor(flags, { role: 'primary' });
  // Workers accept from the shared socket themselves (the kernel spreads connections): see docs/gateway.md, "Workers".
  if (process.env.NODE_CLUSTER_SCHED_POLICY === undefined) cluster.schedulingPolicy = cluster.SCHED_NONE;
  let supervisor: GatewaySupervisor;
  try {
    supervisor = await GatewaySupervisor.start({ configFile: file, configText: read.text, config: read.config, workers: flags.workers, log, permanentExitCodes: [EXIT_PERMANENT] });
  } catch (error) {
    if (error instanceof WorkerFailedError) return error.exitCode;
    const code = (error as { code?: unknown }).code;
    log.error({ code, address: bindAddressOf(error) }, `could not start: ${(error as Error).message}`);
    console.error(`keel gateway: ${(error as Error).message}`);
    return code === 'EADDRINUSE' || code === 'EADDRNOTAVAIL' || code === 'EACCES' ? EXIT_PERMANENT : 1;
  }
  log.info({ ports: supervisor.ports, admin: supervisor.adminPort, workers: supervisor.pids }, 'gateway listening');
  const unwatch = reloadOnSignal(file, flags.watch === true, () => void supervisor.reloadFromFile());
  const code = await Promise.race([supervisor.finished, drainOnSignal(log, () => supervisor.stop()).then(() => supervisor.finished)]);
  unwatch();
  log.info({ code }, 'gateway stopped');
  return code;
}

/** A worker of `--workers N`: runs the gateway on the config the primary sends, its rate-limit permits leased from the primary. */
async function runWorker(flags: GatewayFlags): Promise<number> {
  const slot = Number(process.env[WORKER_SLOT_ENV] ?? 0);
  const log = loggerFor(flags, { worker: slot });
  const agent = new WorkerAgent(process as unknown as ConstructorParameters<typeof WorkerAgent>[0], slot, Number(process.env[WORKERS_ENV] ?? 1), log);
  let config: GatewayConfig;
  try {
    config = workerConfig(parseGatewayYaml(await agent.config()));
  } catch (error) {
    log.error({ error: (error as Error).message }, 'could not start');
    return 1;
  }
  const gateway = await startGateway({ config, log, permits: agent.leases }, flags.config, log);
  if (typeof gateway === 'number') return gateway;
  agent.serve(gateway);
  // The primary reloads every worker (and a terminal's hangup reaches the whole group): a worker ignores SIGHUP.
  process.on('SIGHUP', () => log.info('SIGHUP ignored: send it to the primary, which reloads every worker'));
  await drainOnSignal(log, () => gateway.drain());
  log.info('worker stopped');
  return 0;
}
