import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { CLUSTER_STOP_GRACE_MS, RESTART_DELAY_MS, RESTARTS_MAX } from './limits.js';

/**
 * A child process the experiment starts and, like keel up does for its
 * members, starts again when it exits while the run goes on (a kill -9 from
 * a fault), after RESTART_DELAY_MS, at most RESTARTS_MAX times per group.
 * The etcd control run's members and the services cluster's backends and
 * gateway are each one of these. Known by pid: stopped by pid only.
 */
export interface Supervised {
  readonly name: string;
  /** The pid now, or null while it is down (between an exit and its restart). */
  pid(): number | null;
  /** How many times it was started again. */
  restarts(): number;
}

export interface SupervisedGroup {
  add(name: string, command: string, args: readonly string[], logFile: string): Supervised;
  /** Stops every process (SIGCONT, SIGTERM, SIGKILL after the grace) and restarts none. */
  stop(): Promise<void>;
}

interface Entry {
  child: ChildProcess | undefined;
  exited: Promise<void> | undefined;
  restarts: number;
}

export function supervisedGroup(): SupervisedGroup {
  const entries: Entry[] = [];
  let stopping = false;
  let restarts = 0;
  const start = (entry: Entry, command: string, args: readonly string[], logFile: string): void => {
    const log = openSync(logFile, 'a');
    const child = spawn(command, args, { stdio: ['ignore', log, log] });
    closeSync(log);
    entry.child = child;
    entry.exited = new Promise((resolve) => {
      child.once('exit', () => {
        if (entry.child === child) entry.child = undefined;
        resolve();
        if (stopping || restarts >= RESTARTS_MAX) return;
        restarts++;
        setTimeout(() => {
          if (stopping || entry.child !== undefined) return;
          entry.restarts++;
          start(entry, command, args, logFile);
        }, RESTART_DELAY_MS);
      });
    });
    // A spawn failure (ENOENT) is an 'error' event and an 'exit': the exit handler above deals with it.
    child.once('error', () => undefined);
  };
  return {
    add(name, command, args, logFile) {
      const entry: Entry = { child: undefined, exited: undefined, restarts: 0 };
      entries.push(entry);
      start(entry, command, args, logFile);
      return { name, pid: () => entry.child?.pid ?? null, restarts: () => entry.restarts };
    },
    async stop() {
      stopping = true;
      await Promise.all(entries.map(async ({ child, exited }) => {
        if (child?.pid === undefined || exited === undefined) return;
        child.kill('SIGCONT');
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), CLUSTER_STOP_GRACE_MS);
        await exited;
        clearTimeout(timer);
      }));
    },
  };
}

/** The end of a process's log, for an error saying why it did not serve. */
export function logTail(file: string): string {
  try {
    return readFileSync(file, 'utf8').slice(-1_000).trim();
  } catch {
    return '';
  }
}
