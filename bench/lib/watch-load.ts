/**
 * Watch-event throughput and latency: `watchers` Watch streams on one
 * prefix (one stream per watcher, spread over a connection set), writers
 * putting fresh keys under the prefix either at a fixed rate (an open
 * model: puts that fall due while `PUTS_IN_FLIGHT_MAX` are outstanding are
 * counted as dropped, not delayed) or as fast as `writers` closed loops go.
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
import { newHistogram } from '../../src/load/index.js';
import { sleepMs } from './net.js';

/** Puts outstanding at once in fixed-rate mode; a put due beyond this is dropped. */
export const PUTS_IN_FLIGHT_MAX = 1_024;
/** How often the fixed-rate writer wakes to issue what fell due. */
const RATE_TICK_MS = 2;
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
  /** Fixed-rate mode: puts that fell due with PUTS_IN_FLIGHT_MAX outstanding. */
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
    const watcher: Watcher = { stream: watchConns.watch(index), seen: new Uint8Array(options.maxPuts), created: false, warmupEvents: 0, measuredEvents: 0, lastRevision: 0 };
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

    const put = async (writer: number, key: Buffer): Promise<void> => {
      await writeConns.kv(writer, 'Put', { key, value: options.value }, options.requestTimeoutMs);
    };
    // Warm-up: connections, the watch path and the JIT, awaited by every watcher.
    let warmupAcknowledged = 0;
    let warmupNext = 0;
    await Promise.all(
      Array.from({ length: Math.min(options.writers, options.warmupPuts) }, async (_, writer) => {
        for (let index = warmupNext++; index < options.warmupPuts; index = warmupNext++) {
          await put(writer, Buffer.concat([prefix, Buffer.from(`w${index}`)])).then(() => warmupAcknowledged++, () => {});
        }
      }),
    );
    await until(() => watchers.every((watcher) => watcher.warmupEvents >= warmupAcknowledged), options.drainTimeoutMs);

    let putErrors = 0;
    let putsDropped = 0;
    let puts = 0;
    const putMeasured = (writer: number, sequence: number): Promise<void> => {
      sentAtMs[sequence] = performance.now();
      return put(writer, Buffer.concat([prefix, Buffer.from(`m${sequence}`)])).then(
        () => {
          acknowledged[sequence] = 1;
          puts++;
        },
        (error: Error) => {
          putErrors++;
          problem(`put: ${error.message}`);
        },
      );
    };
    const startedAtMs = performance.now();
    const endAtMs = startedAtMs + options.seconds * 1000;
    let next = 0;
    if (options.putsPerSecond === undefined) {
      await Promise.all(
        Array.from({ length: options.writers }, async (_, writer) => {
          while (next < options.maxPuts && performance.now() < endAtMs) await putMeasured(writer, next++);
        }),
      );
    } else {
      let due = 0;
      let inFlight = 0;
      const pending = new Set<Promise<void>>();
      for (let nowMs = performance.now(); nowMs < endAtMs && next < options.maxPuts; nowMs = performance.now()) {
        const dueNow = Math.floor(((nowMs - startedAtMs) / 1000) * options.putsPerSecond);
        for (; due < dueNow && next < options.maxPuts; due++) {
          if (inFlight >= PUTS_IN_FLIGHT_MAX) {
            putsDropped++;
            continue;
          }
          inFlight++;
          const sequence = next++;
          const done = putMeasured(sequence, sequence).finally(() => {
            inFlight--;
            pending.delete(done);
          });
          pending.add(done);
        }
        await sleepMs(RATE_TICK_MS);
      }
      await Promise.all(pending);
    }
    const writtenAtMs = performance.now();
    await until(() => watchers.every((watcher) => watcher.measuredEvents >= puts), options.drainTimeoutMs);

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
      putsPerSecond: puts / ((writtenAtMs - startedAtMs) / 1000),
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
  }
}

/** Polls `done` every POLL_MS until it holds or `timeoutMs` passes. */
async function until(done: () => boolean, timeoutMs: number): Promise<void> {
  const deadlineMs = performance.now() + timeoutMs;
  while (!done() && performance.now() < deadlineMs) await sleepMs(POLL_MS);
}
