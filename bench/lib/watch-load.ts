/**
 * Watch-event throughput and latency: `watchers` Watch streams on one
 * prefix (one stream per watcher, spread over a connection set), writers
 * putting fresh keys under the prefix either at a fixed rate or as fast as
 * `writers` closed loops go. The writers are keel/load's (bench/lib/load.ts),
 * one put per iteration: the fixed rate is its constant-arrival-rate
 * executor (the open model: a put that falls due while `PUTS_IN_FLIGHT_MAX`
 * are outstanding finds no free VU and is dropped, counted by keel/load, not
 * delayed), the closed loops its shared-iterations on `writers` VUs. The
 * watchers are not load but observers of it, so they stay plain streams
 * here (keel/load has no Watch streams).
 *
 * Every put's key carries its sequence number, so each event is matched to
 * the moment its put was sent: the put-to-event latency includes the put's
 * commit. Every watcher must see every acknowledged put exactly once, in
 * revision order; what it misses, sees twice or sees out of order is
 * counted. Bounded: at most `maxPuts` puts, `seconds` of writing, then at
 * most `drainTimeoutMs` of waiting for the last events.
 */
import type { ClientDuplexStream } from '@grpc/grpc-js';
import type { Message } from '../../src/api/grpc/codec.js';
import type { GrpcConns } from './grpc-conns.js';
import { newHistogram, type VU, VuPool } from '../../src/load/index.js';
import { runArrivalRate, runIterations } from './load.js';
import { sleepMs } from './net.js';

/** Puts outstanding at once in fixed-rate mode (keel/load's maxVUs); a put due beyond this is dropped. */
export const PUTS_IN_FLIGHT_MAX = 1_024;
/**
 * Fixed-rate mode makes VUs up front for puts lasting this long at the rate
 * (keel/load adds more, up to PUTS_IN_FLIGHT_MAX, as puts slow down), so a
 * low rate does not hold a thousand idle VUs.
 */
const PREALLOCATED_PUT_MS = 20;
/** The warm-up's puts get this long in all (each is bounded by the request timeout too). */
const WARMUP_SECONDS_MAX = 60;
/** Watchers one cell may open. */
export const WATCHERS_MAX = 1_024;
const CREATE_TIMEOUT_MS = 10_000;
const POLL_MS = 10;
const KIND_WARMUP = 'w'.charCodeAt(0);
const KIND_MEASURED = 'm'.charCodeAt(0);

export interface WatchLoadOptions {
  readonly watchers: number;
  /** Puts per second, or undefined for as fast as `writers` closed loops go. */
  readonly putsPerSecond: number | undefined;
  readonly writers: number;
  readonly seconds: number;
  readonly maxPuts: number;
  /** Puts written and awaited by every watcher before measuring. */
  readonly warmupPuts: number;
  readonly drainTimeoutMs: number;
  readonly requestTimeoutMs: number;
  /** A prefix no other cell uses. */
  readonly prefix: string;
  readonly value: Buffer;
}

export interface WatchResult {
  /** Acknowledged measured puts, and their rate over the writing phase. */
  readonly puts: number;
  readonly putsPerSecond: number;
  readonly putErrors: number;
  /** Fixed-rate mode: puts that fell due with PUTS_IN_FLIGHT_MAX outstanding (keel/load's dropped_iterations). */
  readonly putsDropped: number;
  /** Events of measured puts delivered, summed over watchers, and their rate from the first put to the last event. */
  readonly events: number;
  readonly eventsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** (watcher, acknowledged put) pairs with no event by the end of the drain. */
  readonly missed: number;
  readonly duplicates: number;
  readonly outOfOrder: number;
  readonly streamErrors: number;
  readonly firstProblem: string | undefined;
}

interface Watcher {
  readonly stream: ClientDuplexStream<Message, Message>;
  readonly seen: Uint8Array;
  created: boolean;
  warmupEvents: number;
  measuredEvents: number;
  /** Every put below this sequence number is seen by this watcher or was not acknowledged (the drain's cursor). */
  drainedTo: number;
  lastRevision: number;
}

export async function runWatchLoad(watchConns: GrpcConns, writeConns: GrpcConns, options: WatchLoadOptions): Promise<WatchResult> {
  if (options.watchers < 1 || options.watchers > WATCHERS_MAX) throw new Error(`watchers must be in [1, ${WATCHERS_MAX}]`);
  const prefix = Buffer.from(options.prefix);
  const rangeEnd = Buffer.from(prefix);
  rangeEnd[rangeEnd.length - 1]! += 1;
  const sentAtMs = new Float64Array(options.maxPuts);
  const acknowledged = new Uint8Array(options.maxPuts);
  const histogram = newHistogram();
  const vuPool = new VuPool();
  let duplicates = 0;
  let outOfOrder = 0;
  let streamErrors = 0;
  let firstProblem: string | undefined;
  let lastEventAtMs = 0;
  let closing = false;
  const problem = (text: string): void => {
    firstProblem ??= text;
  };

  const onEvent = (watcher: Watcher, event: Message, nowMs: number): void => {
    const kv = event.kv as { key: Buffer; mod_revision: string };
    const revision = Number(kv.mod_revision);
    if (revision <= watcher.lastRevision) {
      outOfOrder++;
      problem(`event at revision ${revision} after ${watcher.lastRevision}`);
    }
    watcher.lastRevision = Math.max(watcher.lastRevision, revision);
    const kind = kv.key[prefix.length];
    if (kind === KIND_WARMUP) {
      watcher.warmupEvents++;
      return;
    }
    if (kind !== KIND_MEASURED) return;
    const sequence = Number(kv.key.toString('latin1', prefix.length + 1));
    if (watcher.seen[sequence] === 1) {
      duplicates++;
      problem(`duplicate event for put ${sequence}`);
      return;
    }
    watcher.seen[sequence] = 1;
    watcher.measuredEvents++;
    lastEventAtMs = nowMs;
    histogram.recordValue(Math.max(1, Math.round((nowMs - sentAtMs[sequence]!) * 1000)));
  };

  const watchers: Watcher[] = Array.from({ length: options.watchers }, (_, index) => {
    const watcher: Watcher = { stream: watchConns.watch(index), seen: new Uint8Array(options.maxPuts), created: false, warmupEvents: 0, measuredEvents: 0, drainedTo: 0, lastRevision: 0 };
    watcher.stream.on('data', (response: Message) => {
      if (response.created === true) watcher.created = true;
      if (response.canceled === true) problem(`watch canceled: ${String(response.cancel_reason)}`);
      const events = response.events as Message[];
      if (events.length === 0) return;
      const nowMs = performance.now();
      for (const event of events) onEvent(watcher, event, nowMs);
    });
    watcher.stream.on('error', (error: Error) => {
      if (closing) return;
      streamErrors++;
      problem(`watch stream: ${error.message}`);
    });
    watcher.stream.write({ create_request: { key: prefix, range_end: rangeEnd } });
    return watcher;
  });

  try {
    await until(() => watchers.every((watcher) => watcher.created) || streamErrors > 0, CREATE_TIMEOUT_MS);
    if (!watchers.every((watcher) => watcher.created)) throw new Error(`watches not created within ${CREATE_TIMEOUT_MS} ms: ${firstProblem ?? 'no answer'}`);

    const put = async (writer: number, name: string): Promise<void> => {
      await writeConns.kv(writer, 'Put', { key: Buffer.concat([prefix, Buffer.from(name)]), value: options.value }, options.requestTimeoutMs);
    };
    // Warm-up: connections, the watch path and the JIT, awaited by every watcher.
    let warmupAcknowledged = 0;
    let warmupNext = 0;
    const warmupPut = async (vu: VU): Promise<void> => {
      await put(vu.id - 1, `w${warmupNext++}`);
      warmupAcknowledged++;
    };
    if (options.warmupPuts > 0) await runIterations({ clients: Math.min(options.writers, options.warmupPuts) }, { iterations: options.warmupPuts, seconds: WARMUP_SECONDS_MAX }, warmupPut, vuPool);
    await until(() => watchers.every((watcher) => watcher.warmupEvents >= warmupAcknowledged), options.drainTimeoutMs);

    // Puts and their errors are counted here, by sequence number, because the check needs to know which puts were acknowledged.
    let putErrors = 0;
    let puts = 0;
    let next = 0;
    let writtenAtMs = 0;
    const fixedRate = options.putsPerSecond;
    const putMeasured = async (vu: VU): Promise<void> => {
      // The arrival schedule's end is rounded to the millisecond, so it may call once more than maxPuts.
      if (next >= options.maxPuts) return;
      const sequence = next++;
      sentAtMs[sequence] = performance.now();
      try {
        // At a fixed rate a free VU is usually the same one, so the sequence number spreads the puts over the connections.
        await put(fixedRate === undefined ? vu.id - 1 : sequence, `m${sequence}`);
      } catch (error) {
        putErrors++;
        problem(`put: ${(error as Error).message}`);
        return;
      }
      acknowledged[sequence] = 1;
      puts++;
      writtenAtMs = performance.now();
    };
    let putsDropped = 0;
    if (fixedRate === undefined) {
      await runIterations({ clients: options.writers }, { iterations: options.maxPuts, seconds: options.seconds }, putMeasured, vuPool);
    } else {
      const bound = {
        perSecond: fixedRate,
        seconds: Math.min(options.seconds, options.maxPuts / fixedRate),
        vusPreallocated: Math.min(PUTS_IN_FLIGHT_MAX, Math.max(1, Math.ceil((fixedRate * PREALLOCATED_PUT_MS) / 1000))),
        vusMax: PUTS_IN_FLIGHT_MAX,
      };
      const summary = await runArrivalRate({}, bound, putMeasured, vuPool);
      putsDropped = summary.counters.dropped_iterations?.count ?? 0;
    }
    // The rates run from the first put sent, not from runLoad's call: keel/load takes a moment to start a run.
    const startedAtMs = next > 0 ? sentAtMs[0]! : performance.now();
    writtenAtMs = Math.max(writtenAtMs, startedAtMs);
    // Wait for the acknowledged puts themselves, not for as many events: a put that failed (a leader change
    // answers "leader changed") may still have been applied, and its event then made a count reach `puts`
    // while acknowledged puts' events were still on their way, which the check below reported as missed.
    const drained = (watcher: Watcher): boolean => {
      watcher.drainedTo = drainCursor(watcher.seen, acknowledged, watcher.drainedTo, next);
      return watcher.drainedTo >= next;
    };
    await until(() => watchers.every(drained), options.drainTimeoutMs);

    let missed = 0;
    for (let sequence = 0; sequence < next; sequence++) {
      if (acknowledged[sequence] !== 1) continue;
      for (const watcher of watchers) if (watcher.seen[sequence] !== 1) missed++;
    }
    if (missed > 0) problem(`${missed} (watcher, put) pairs without an event after ${options.drainTimeoutMs} ms of drain`);
    const events = watchers.reduce((sum, watcher) => sum + watcher.measuredEvents, 0);
    const eventsSeconds = (Math.max(lastEventAtMs, startedAtMs) - startedAtMs) / 1000;
    return {
      puts,
      putsPerSecond: writtenAtMs > startedAtMs ? puts / ((writtenAtMs - startedAtMs) / 1000) : 0,
      putErrors,
      putsDropped,
      events,
      eventsPerSecond: eventsSeconds > 0 ? events / eventsSeconds : 0,
      p50Ms: histogram.getValueAtPercentile(50) / 1000,
      p99Ms: histogram.getValueAtPercentile(99) / 1000,
      missed,
      duplicates,
      outOfOrder,
      streamErrors,
      firstProblem,
    };
  } finally {
    closing = true;
    for (const watcher of watchers) watcher.stream.cancel();
    histogram.destroy();
    await vuPool.close();
  }
}

/**
 * The drain's cursor for one watcher: the first put sequence from `from` on
 * (below `end`) that was acknowledged and that the watcher has not seen yet,
 * or `end`. Puts that failed are skipped: they may or may not have applied.
 * Monotonic, so a whole drain scans each watcher's puts once.
 */
export function drainCursor(seen: Uint8Array, acknowledged: Uint8Array, from: number, end: number): number {
  let cursor = from;
  while (cursor < end && (acknowledged[cursor] !== 1 || seen[cursor] === 1)) cursor++;
  return cursor;
}

/** Polls `done` every POLL_MS until it holds or `timeoutMs` passes. */
async function until(done: () => boolean, timeoutMs: number): Promise<void> {
  const deadlineMs = performance.now() + timeoutMs;
  while (!done() && performance.now() < deadlineMs) await sleepMs(POLL_MS);
}
