/**
 * Runs a load generator as a child process and measures its process tree
 * from /proc: CPU (utime+stime, children included) and RSS, sampled every
 * 100 ms. Linux only; every process is stopped by its own PID (or, with a
 * timeout, by the process group that PID leads).
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** Clock ticks per second for /proc/<pid>/stat times (getconf CLK_TCK; 100 on Linux). */
const TICKS_PER_SECOND = 100;
/** How often the tree is sampled. */
const SAMPLE_INTERVAL_MS = 100;

/** utime+stime+cutime+cstime of a process, in µs (cutime/cstime hold its reaped children's). */
export function cpuMicros(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]);
    return (ticks / TICKS_PER_SECOND) * 1e6;
  } catch {
    return undefined;
  }
}

export function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** How deep `treeCpuMicros` follows children (a primary and its workers are 2 levels; nginx's master and its workers too). */
const TREE_DEPTH_MAX = 4;

/** The children of every thread of `pid` (a child forked from any thread, not only the main one). */
function childPidsOfAnyThread(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((task) => {
      try {
        return readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
      } catch {
        return [];
      }
    });
  } catch {
    return [];
  }
}

/**
 * CPU of `pid` and its live descendants, in µs: each one's utime+stime plus
 * its reaped children's, so a worker that exits between two reads still
 * counts (in its parent's cutime once reaped). `undefined` when `pid` is
 * gone. Read it before and after a window and subtract: a multi-process
 * server's CPU over that window, every process of it.
 */
export function treeCpuMicros(pid: number, depth = 0): number | undefined {
  const own = cpuMicros(pid);
  if (own === undefined || depth >= TREE_DEPTH_MAX) return own;
  return childPidsOfAnyThread(pid).reduce((sum, child) => sum + (treeCpuMicros(child, depth + 1) ?? 0), own);
}

export function rssKb(pid: number): number {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

export interface Measured {
  readonly stdout: string;
  readonly cpuMicros: number;
  readonly wallSeconds: number;
  readonly peakRssKb: number;
  /** CPU and RSS of the tree when stdout first matched `startMark` (undefined when it never did). */
  readonly atMark: { readonly cpuMicros: number; readonly rssKb: number } | undefined;
  /** Exit code (null when ended by a signal). */
  readonly exitCode: number | null;
  /** Killed because it ran past `timeoutMs`. */
  readonly timedOut: boolean;
}

export interface MeasureOptions {
  /** Called after each sample with the tree's PIDs (top process first). */
  readonly onSample?: (pids: number[]) => void;
  readonly env?: NodeJS.ProcessEnv;
  /**
   * A line the tool prints when its load starts (after its own startup): the
   * tree's CPU and RSS are read the moment stdout first matches, so a caller
   * can leave startup (a JVM's, say) out of the window.
   */
  readonly startMark?: RegExp;
  /** Kill the tool's process group (SIGKILL) after this long; the tool then runs detached, as its own group's leader. */
  readonly timeoutMs?: number;
}

function treeOf(pid: number): number[] {
  return [pid, ...childPids(pid), ...childPids(pid).flatMap(childPids)];
}

/**
 * Runs a load tool and samples its process tree every 100 ms: CPU is the
 * last sample of the top process (its own plus its reaped children's) plus
 * the live children's; the last 100 ms before exit are lost (under 1% of a
 * 10 s run).
 */
export function measure(command: string, args: readonly string[], options: MeasureOptions = {}): Promise<Measured> {
  return new Promise((resolve, reject) => {
    const begun = performance.now();
    const detached = options.timeoutMs !== undefined;
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'], env: options.env ?? process.env, detached });
    let stdout = '';
    let atMark: Measured['atMark'];
    let lastCpu = 0;
    let peakRssKb = 0;
    let timedOut = false;
    const treeCpu = (tree: readonly number[]): number | undefined => {
      const top = cpuMicros(tree[0]!);
      return top === undefined ? undefined : top + tree.slice(1).reduce((sum, each) => sum + (cpuMicros(each) ?? 0), 0);
    };
    const treeRss = (tree: readonly number[]): number => tree.reduce((sum, each) => sum + rssKb(each), 0);
    child.stdout.on('data', (chunk) => {
      stdout += String(chunk);
      if (atMark !== undefined || options.startMark === undefined || !options.startMark.test(stdout)) return;
      const tree = treeOf(child.pid!);
      atMark = { cpuMicros: treeCpu(tree) ?? lastCpu, rssKb: treeRss(tree) };
    });
    const sample = (): void => {
      const tree = treeOf(child.pid!);
      const cpu = treeCpu(tree);
      if (cpu === undefined) return;
      lastCpu = Math.max(lastCpu, cpu);
      peakRssKb = Math.max(peakRssKb, treeRss(tree));
      options.onSample?.(tree);
    };
    const timer = setInterval(sample, SAMPLE_INTERVAL_MS);
    const deadline =
      options.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            try {
              process.kill(-child.pid!, 'SIGKILL');
            } catch {
              // Already gone.
            }
          }, options.timeoutMs);
    child.once('error', (error) => {
      clearInterval(timer);
      clearTimeout(deadline);
      reject(error);
    });
    child.once('exit', (exitCode) => {
      clearInterval(timer);
      clearTimeout(deadline);
      resolve({ stdout, cpuMicros: lastCpu, wallSeconds: (performance.now() - begun) / 1000, peakRssKb, atMark, exitCode, timedOut });
    });
  });
}
