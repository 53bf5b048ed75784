import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { LOG_TAIL_BYTES, RESTART_DELAY_MS_MAX, RESTART_DELAY_MS_MIN, STABLE_AFTER_MS, STOP_GRACE_MS } from './limits.js';

/** What cluster.json says about a supervised program. */
export interface ProcessState {
  readonly pid: number | null;
  readonly logPath: string;
  readonly restarts: number;
}

/**
 * One external program (Prometheus, Alertmanager) that keel up keeps
 * running: its output goes to `logPath`; when it dies it is restarted with
 * a doubling backoff (reset once it has run a while); `stop()` sends
 * SIGTERM to its pid, then SIGKILL after a grace period.
 */
export class SupervisedProcess {
  #child: ChildProcess | undefined;
  #restarts = 0;
  #startedAt = 0;
  #timer: NodeJS.Timeout | undefined;
  #stopping = false;

  constructor(
    readonly name: string,
    readonly executable: string,
    readonly args: readonly string[],
    readonly logPath: string,
    readonly log: (line: string) => void,
    readonly onChange: () => void = () => undefined,
  ) {}

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  get running(): boolean {
    return this.#child !== undefined;
  }

  state(): ProcessState {
    return { pid: this.#child?.pid ?? null, logPath: this.logPath, restarts: this.#restarts };
  }

  start(): void {
    const logFd = openSync(this.logPath, 'a');
    const child = spawn(this.executable, this.args, { stdio: ['ignore', logFd, logFd] });
    closeSync(logFd);
    this.#child = child;
    this.#startedAt = Date.now();
    child.on('error', (error) => this.log(`${this.name}: ${error.message}`));
    child.on('exit', (code, signal) => this.#exited(code, signal));
    this.onChange();
  }

  #exited(code: number | null, signal: NodeJS.Signals | null): void {
    this.#child = undefined;
    this.onChange();
    if (this.#stopping) return;
    if (Date.now() - this.#startedAt > STABLE_AFTER_MS) this.#restarts = 0;
    const delayMs = Math.min(RESTART_DELAY_MS_MAX, RESTART_DELAY_MS_MIN * 2 ** this.#restarts);
    this.#restarts++;
    this.log(`${this.name} exited (${signal ?? `code ${code}`}); restarting in ${(delayMs / 1000).toFixed(1)} s (restart ${this.#restarts}; log: ${this.logPath}${this.#lastLine()})`);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (this.#stopping) return;
      this.start();
      this.log(`${this.name} restarted (pid ${this.pid})`);
    }, delayMs);
  }

  /** The last line of its log, to say why it exited. */
  #lastLine(): string {
    const tail = logTail(this.logPath).split('\n').filter(Boolean).at(-1);
    return tail ? `; last line: ${tail}` : '';
  }

  /** Stops it for good: SIGTERM to its pid, SIGKILL after the grace period. Resolves once it has exited. */
  async stop(): Promise<void> {
    this.#stopping = true;
    if (this.#timer) clearTimeout(this.#timer);
    const child = this.#child;
    if (!child) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const killer = setTimeout(() => {
      this.log(`${this.name} did not stop within ${STOP_GRACE_MS / 1000} s; killing it`);
      child.kill('SIGKILL');
    }, STOP_GRACE_MS);
    await exited;
    clearTimeout(killer);
  }
}

/** The last bytes of a log file, or '' if it cannot be read. */
export function logTail(path: string): string {
  try {
    const buffer = readFileSync(path);
    return buffer.subarray(Math.max(0, buffer.length - LOG_TAIL_BYTES)).toString('utf8');
  } catch {
    return '';
  }
}
