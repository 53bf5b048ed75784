import { assert } from './assert.js';
import type { WatchEvent } from './events.js';
import { WATCH_RESPONSE_MERGED_BYTES_MAX } from './limits.js';
import type { WatchResponseData, WatchSink } from './watch-hub.js';

/**
 * What stands between one watch stream and its sink: at most one response
 * is with the sink at a time (handed over, its bytes not yet released);
 * responses that come meanwhile wait here, and a watcher's events that wait
 * are merged into that watcher's last waiting response, up to
 * WATCH_RESPONSE_MERGED_BYTES_MAX. Pure: no clock, no timers.
 *
 * Why: grpc-js writes a server stream's messages one at a time, each only
 * after the previous one's write callback, which fires once its HTTP/2 frame
 * went to the socket, so one message per stream per event-loop turn at
 * best. Handed one response per event per watcher, a stream fed faster than
 * the member's loop turns (32 streams on one prefix at 500 puts/s, on a
 * loaded machine) queued hundreds of messages inside grpc-js and its events
 * arrived up to seconds late, in bursts. Waiting here instead, they leave
 * in the next turn as one response. An idle stream's response still goes
 * out at once: the queue only fills while the sink is busy.
 *
 * Order, per watcher: its events keep their order, and nothing it is sent
 * after a notice (created, canceled, a progress notice, a fragment) moves
 * ahead of that notice; after a stream-wide notice (watch id -1, a progress
 * request's answer), no event moves ahead of it. Events of different watchers
 * may leave in another order than they came, as etcd's per-watcher channels
 * also deliver them.
 *
 * Bound: what waits here counts toward the stream's pending bytes, and a
 * stream at WATCH_STREAM_PENDING_BYTES_MAX gets no more live events (the
 * hub's congestion), so this holds about that much plus one catch-up pass.
 */
export class WatchSendQueue {
  readonly #sink: WatchSink;
  /** Waiting responses, oldest first, from `#head` on (the array is compacted as it drains). */
  #waiting: Waiting[] = [];
  #head = 0;
  /** Each watcher's last waiting response while it may take more events. */
  readonly #mergeable = new Map<bigint, Waiting>();
  /** Bytes handed to the sink and not yet released. */
  #sinkBytes = 0;
  #flushing = false;
  #closed = false;

  constructor(sink: WatchSink) {
    this.#sink = sink;
  }

  /** Responses waiting (for tests and stats). */
  get waiting(): number {
    return this.#waiting.length - this.#head;
  }

  /** Sends `response` now if the sink is free and nothing waits; otherwise it waits, merged where it can be. */
  push(response: WatchResponseData, bytes: number): void {
    if (this.#closed) return;
    if (this.#sinkBytes === 0 && this.waiting === 0) {
      this.#hand(response, bytes);
      return;
    }
    if (!isMergeable(response)) {
      // Later events of this watcher (of every watcher, for a stream-wide notice) must not pass it.
      if (response.watchId < 0n) this.#mergeable.clear();
      else this.#mergeable.delete(response.watchId);
      this.#waiting.push({ response, events: response.events, bytes });
      return;
    }
    const last = this.#mergeable.get(response.watchId);
    if (last !== undefined && last.bytes + bytes <= WATCH_RESPONSE_MERGED_BYTES_MAX) {
      for (const event of response.events) last.events.push(event);
      last.bytes += bytes;
      // The header says which revision the events reflect: the later response's.
      last.response.revision = Math.max(last.response.revision, response.revision);
      return;
    }
    // A copy of the events: the caller's array may be shared, and merging appends to it.
    const waiting: Waiting = { response: { ...response }, events: response.events.slice(), bytes };
    waiting.response.events = waiting.events;
    this.#mergeable.set(response.watchId, waiting);
    this.#waiting.push(waiting);
  }

  /** The sink flushed `bytes` of what it was given: the next waiting response goes. */
  released(bytes: number): void {
    this.#sinkBytes = Math.max(0, this.#sinkBytes - bytes);
    this.#flush();
  }

  /** The stream closed: what waits is dropped. */
  close(): void {
    this.#closed = true;
    this.#waiting = [];
    this.#head = 0;
    this.#mergeable.clear();
  }

  #flush(): void {
    // A sink may release inside send(); the loop below then sends the next one.
    if (this.#flushing) return;
    this.#flushing = true;
    try {
      while (!this.#closed && this.#sinkBytes === 0 && this.waiting > 0) {
        const next = this.#waiting[this.#head]!;
        this.#waiting[this.#head++] = undefined as unknown as Waiting;
        if (this.#head * 2 >= this.#waiting.length) {
          this.#waiting = this.#waiting.slice(this.#head);
          this.#head = 0;
        }
        if (this.#mergeable.get(next.response.watchId) === next) this.#mergeable.delete(next.response.watchId);
        this.#hand(next.response, next.bytes);
      }
    } finally {
      this.#flushing = false;
    }
  }

  #hand(response: WatchResponseData, bytes: number): void {
    assert(bytes >= 0, 'a watch response has a size');
    this.#sinkBytes += bytes;
    this.#sink.send(response, bytes);
  }
}

interface Waiting {
  readonly response: WatchResponseData;
  /** The response's own events array, which merges append to. */
  readonly events: WatchEvent[];
  bytes: number;
}

/** Only plain event responses take more events; notices and fragments keep their place and their size. */
function isMergeable(response: WatchResponseData): boolean {
  return (
    response.events.length > 0 &&
    response.watchId >= 0n &&
    response.created !== true &&
    response.canceled !== true &&
    response.fragment !== true &&
    response.compactRevision === undefined
  );
}
