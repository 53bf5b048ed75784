import { writeSync } from 'node:fs';
import { InvalidArgumentError } from 'commander';
import { pino } from 'pino';
import type { DestinationStream, Logger as PinoLogger } from 'pino';

/**
 * The one logger factory for members, the gateway and the CLI: pino JSON
 * lines with ISO timestamps on stderr (stdout stays for command output), or
 * with `--log-format pretty` the same records as readable lines
 * (`12:00:01.234 INFO  message key=value`), written by a small formatter
 * here rather than a pino transport (no worker thread, no dependency).
 */

export type LogFormat = 'json' | 'pretty';
export const LOG_FORMATS: readonly LogFormat[] = ['json', 'pretty'];

export interface LogOptions {
  readonly level: string;
  readonly format?: LogFormat;
  /** Fields on every record (member id, part). */
  readonly bindings?: Record<string, unknown>;
  /** Where lines go; stderr by default (tests pass a collector). */
  readonly write?: (line: string) => void;
}

/** commander's parser for `--log-format`: a bad value is a usage error, not a crash. */
export function parseLogFormat(value: string): LogFormat {
  if (!(LOG_FORMATS as readonly string[]).includes(value)) throw new InvalidArgumentError(`must be one of ${LOG_FORMATS.join(', ')}`);
  return value as LogFormat;
}

const toStderr = (line: string): void => {
  writeSync(2, line);
};

/** A pino logger as every part gets it (the gateway and tests use pino's API: `log.info({ fields }, 'message')`). */
export function createPinoLogger(options: LogOptions): PinoLogger {
  const write = options.write ?? toStderr;
  const destination: DestinationStream = { write: options.format === 'pretty' ? (line) => write(prettyLine(line)) : write };
  return pino({ level: options.level, base: { ...options.bindings }, timestamp: pino.stdTimeFunctions.isoTime }, destination);
}

/**
 * Fields that describe an error in a log record. An expected error is its
 * code and message on the one line: a typed keel error with a stable
 * `KEEL_*` code (bad config, unbindable listener, refused request), or an
 * operating-system error from a system call (`EADDRINUSE` on listen,
 * `EACCES` on open), whose stack says nothing about the cause. Anything else
 * is unexpected and keeps its stack (pino's `err` serializer).
 */
export function errorFields(error: unknown): Record<string, unknown> {
  if (!(error instanceof Error)) return { err: error };
  const { code, syscall } = error as { code?: unknown; syscall?: unknown };
  const expected = typeof code === 'string' && (code.startsWith('KEEL_') || (typeof syscall === 'string' && /^E[A-Z]+$/.test(code)));
  return expected ? { code, error: error.message } : { err: error };
}

/** JSON-line logging for members: one small interface, message first, over the same factory. */
export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

export function createLogger(level: string, bindings: Record<string, unknown> = {}, format: LogFormat = 'json'): Logger {
  const logger = createPinoLogger({ level, bindings, format });
  return {
    debug: (message, fields) => logger.debug(fields ?? {}, message),
    info: (message, fields) => logger.info(fields ?? {}, message),
    warn: (message, fields) => logger.warn(fields ?? {}, message),
    error: (message, fields) => logger.error(fields ?? {}, message),
  };
}

/** For tests: swallows everything. */
export const silentLogger: Logger = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };

const LEVEL_NAMES: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };

/** One pino JSON line as `HH:MM:SS.mmm LEVEL message key=value ...`, an unexpected error's stack indented below it. */
export function prettyLine(json: string): string {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json.endsWith('\n') ? json : `${json}\n`; // not ours to parse: pass it through
  }
  const { time, level, msg, err, ...fields } = record;
  const clock = typeof time === 'string' ? time.slice(11, 23) : '--:--:--.---';
  const levelName = (LEVEL_NAMES[level as number] ?? String(level)).padEnd(5);
  const parts = [clock, levelName, typeof msg === 'string' ? msg : ''];
  for (const [key, value] of Object.entries(fields)) if (value !== undefined) parts.push(`${key}=${prettyValue(value)}`);
  const stack = (err as { stack?: unknown } | undefined)?.stack;
  if (err !== undefined) parts.push(`err=${prettyValue((err as { message?: unknown }).message ?? err)}`);
  const head = parts.filter((part) => part !== '').join(' ');
  return typeof stack === 'string' ? `${head}\n${stack.split('\n').map((line) => `    ${line.trim()}`).join('\n')}\n` : `${head}\n`;
}

function prettyValue(value: unknown): string {
  if (typeof value === 'string') return /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value);
  return JSON.stringify(value) ?? String(value);
}
