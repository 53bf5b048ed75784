/**
 * How the coordinator reaches a worker: a forked process (IPC), an agent
 * (TCP, agent.ts) or a session in its own process (--workers 0, tests).
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { isFromWorker, type FromWorker, type ToWorker } from './messages.js';
import { WorkerSession, type InProcessParts } from './session.js';
import { realClock } from './clock.js';

export interface WorkerLink {
  readonly name: string;
  send(message: ToWorker): void;
  onMessage(listener: (message: FromWorker) => void): void;
  /** Resolves when the link is gone, with why if it went before its run was done. */
  readonly closed: Promise<string>;
  kill(): void;
}

/** A session in this process. */
export class InProcessLink implements WorkerLink {
  readonly name = 'in-process';
  readonly closed: Promise<string>;
  readonly #listeners: ((message: FromWorker) => void)[] = [];
  readonly #session: WorkerSession;

  /** `inProcess`: an inline scenario's functions and a VU pool, which only a session in this process can hold. */
  constructor(inProcess: InProcessParts = {}) {
    this.#session = new WorkerSession((message) => queueMicrotask(() => this.#listeners.forEach((listener) => listener(message))), realClock, inProcess);
    this.closed = this.#session.finished.then(() => 'finished');
  }

  send(message: ToWorker): void {
    queueMicrotask(() => this.#session.handle(message));
  }

  onMessage(listener: (message: FromWorker) => void): void {
    this.#listeners.push(listener);
  }

  kill(): void {
    this.#session.handle({ type: 'stop' });
  }
}

/** The worker entry beside this module (worker.js when built, worker.ts under tsx). */
function workerEntry(): string {
  const here = fileURLToPath(import.meta.url);
  return here.replace(/links\.(ts|js)$/, (_, extension: string) => `worker.${extension}`);
}

/** The soft open-file limit of this process (from /proc/self/limits), or undefined. */
export function openFilesLimit(): number | undefined {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((entry) => entry.startsWith('Max open files'));
    const soft = Number(line?.split(/\s{2,}/)[1]);
    return Number.isFinite(soft) ? soft : undefined;
  } catch {
    return undefined;
  }
}

const PRLIMIT = ['/usr/bin/prlimit', '/bin/prlimit'].find((path) => existsSync(path));

/**
 * A forked worker process. Node cannot call setrlimit, so a worker that needs
 * more open files than this process may hold is started under util-linux's
 * `prlimit --nofile=N:N` (raising the hard limit needs CAP_SYS_RESOURCE; if
 * that fails the worker fails to start and the error says to add workers).
 */
export class ForkLink implements WorkerLink {
  readonly name: string;
  readonly closed: Promise<string>;
  readonly #child: ChildProcess;

  constructor(index: number, openFilesNeeded: number) {
    this.name = `worker ${index + 1}`;
    const entry = workerEntry();
    const limit = openFilesLimit();
    const stdio: ('ignore' | 'inherit' | 'ipc')[] = ['ignore', 'inherit', 'inherit', 'ipc'];
    if (PRLIMIT !== undefined && limit !== undefined && openFilesNeeded > limit) {
      this.#child = spawn(PRLIMIT, [`--nofile=${openFilesNeeded}:${openFilesNeeded}`, process.execPath, ...process.execArgv, entry], { stdio });
    } else {
      this.#child = fork(entry, [], { stdio });
    }
    // Closed once the process has exited *and* its IPC channel is drained: 'exit' comes from SIGCHLD and can
    // overtake the last messages still in the pipe (its 'done'), which would count a finished worker as lost.
    const child = this.#child;
    const exited = new Promise<string>((resolve) => {
      child.once('exit', (code, signal) => resolve(signal !== null ? `killed by ${signal}` : `exited with code ${code}`));
    });
    const drained = new Promise<void>((resolve) => {
      if (!child.connected) resolve();
      child.once('disconnect', () => resolve());
    });
    this.closed = new Promise((resolve) => {
      void Promise.all([exited, drained]).then(([why]) => resolve(why));
      child.once('error', (error) => resolve(`could not start: ${error.message}`));
    });
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  send(message: ToWorker): void {
    if (this.#child.connected) this.#child.send(message);
  }

  onMessage(listener: (message: FromWorker) => void): void {
    this.#child.on('message', (message) => {
      if (isFromWorker(message)) listener(message);
    });
  }

  kill(): void {
    if (this.#child.exitCode === null && this.#child.signalCode === null) this.#child.kill('SIGKILL');
  }
}
