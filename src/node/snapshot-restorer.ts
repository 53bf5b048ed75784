import type { StoreRestore } from '../store/index.js';

/**
 * How long one slice of a restore runs before the event loop gets a turn.
 * Well under a heartbeat (100 ms by default) and an election timeout: a
 * follower restoring a large snapshot goes on answering heartbeats and
 * votes, and a member's timers fire on time.
 */
export const RESTORE_SLICE_MS = 8;

/** Units (records decoded or moved) per step between clock reads: small enough that a slice overshoots its time by little. */
export const RESTORE_STEP_WORK = 2048;

export interface RestoreSliceOptions {
  /** Milliseconds a slice may run before yielding. */
  readonly sliceMs: number;
  /** Work per `step` call between reads of `now`. */
  readonly stepWork: number;
  /** A monotonic clock in milliseconds (performance.now in a member). */
  readonly now: () => number;
  /** Resolves on a later event-loop turn (setImmediate in a member), after pending I/O and timers. */
  readonly yieldTurn: () => Promise<void>;
  /** Checked between slices: true gives the restore up (the member is stopping). */
  readonly stopped: () => boolean;
}

/** What a sliced restore did, for the log and the metrics. */
export interface RestoreReport {
  /** False when it was given up because the member stopped (the state is as before). */
  readonly done: boolean;
  readonly records: number;
  readonly slices: number;
  /** From the first slice to the last, yields included. */
  readonly seconds: number;
  /** The longest slice: the longest the restore kept the event loop. */
  readonly longestSliceMs: number;
}

/**
 * Runs a store restore in slices of about `sliceMs`, yielding to the event
 * loop between them, so a member goes on handling peer traffic and timers
 * while it decodes a snapshot of any size. Rejects with what a step threw
 * (MalformedBytesError); the restore is then over and the state unchanged.
 */
export async function restoreInSlices(restore: StoreRestore, options: RestoreSliceOptions): Promise<RestoreReport> {
  const started = options.now();
  let slices = 0;
  let longestSliceMs = 0;
  for (;;) {
    if (options.stopped()) {
      restore.abandon();
      return { done: false, records: restore.recordsDecoded, slices, seconds: (options.now() - started) / 1000, longestSliceMs };
    }
    const sliceStarted = options.now();
    let done = false;
    do done = restore.step(options.stepWork);
    while (!done && options.now() - sliceStarted < options.sliceMs);
    slices++;
    longestSliceMs = Math.max(longestSliceMs, options.now() - sliceStarted);
    if (done) return { done: true, records: restore.recordsDecoded, slices, seconds: (options.now() - started) / 1000, longestSliceMs };
    await options.yieldTurn();
  }
}
