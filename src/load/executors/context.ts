import type { Clock } from '../clock.js';

/**
 * What an executor drives. It decides when iterations start and on which VU;
 * the runner runs them, records metrics and, after the schedule ends, waits
 * out the graceful stop. Executors return when their schedule is over; they
 * never start an iteration after that.
 */
export interface ExecutorContext {
  readonly clock: Clock;
  /** Aborted on Ctrl-C or a failed abortOnFail threshold: start nothing more. */
  readonly signal: AbortSignal;
  /** The scenario's start on `clock`. */
  readonly startMs: number;
  /**
   * Runs one iteration on VU `vu` (0-based in this scenario); resolves when
   * it ends, never rejects. `intendedStartMs` is the open model's scheduled
   * start: latency is measured from it, not from when the VU got to it.
   */
  iterate(vu: number, intendedStartMs?: number): Promise<void>;
  /** An arrival found no free VU (open model): counted, never delayed. */
  dropped(): void;
  /** The number of active VUs changed to `vus`. */
  activeVus(vus: number): void;
}

/** Sleeps until `atMs`; false if the run was aborted first. */
export async function sleepUntil(context: ExecutorContext, atMs: number): Promise<boolean> {
  try {
    await context.clock.sleepUntil(atMs, context.signal);
    return true;
  } catch {
    return false;
  }
}

/** Whether a VU loop may start another iteration. */
export function mayContinue(context: ExecutorContext, endMs: number): boolean {
  return !context.signal.aborted && context.clock.nowMs() < endMs;
}

/** VU loops started per event-loop turn: starting 12,500 at once would stall a worker for seconds (no snapshots, no timers). */
const STARTS_PER_TURN = 256;

/**
 * Starts `start(vu)` for each VU in `vus`, a batch per turn of the event
 * loop (yielding through the clock, so a fake clock drives it too).
 */
export async function startInBatches(context: ExecutorContext, vus: Iterable<number>, start: (vu: number) => void): Promise<void> {
  let started = 0;
  for (const vu of vus) {
    if (started > 0 && started % STARTS_PER_TURN === 0 && !(await sleepUntil(context, context.clock.nowMs()))) return;
    start(vu);
    started++;
  }
}
