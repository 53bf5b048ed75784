import type { ByteString, KeyRange } from './bytes.js';
import { inKeyRange, toByteString, toKeyRange } from './bytes.js';
import { CompactedError, StoreError } from './errors.js';
import type { EventBatch, HistoryQuery, HistoryResult, WatchEvent } from './events.js';
import { REQUEST_BYTES_MAX, WATCH_CATCH_UP_EVENTS_PER_PASS, WATCHERS_PER_STREAM_MAX, WATCH_STREAM_PENDING_BYTES_MAX } from './limits.js';
import { WatchSendQueue } from './watch-send-queue.js';

/**
 * etcd's watch semantics over the state machine's event feed, for one
 * member. Pure: no clock, no timers. The caller (the API layer) feeds it
 * applied batches through the store's subscription, calls `catchUp()` when a
 * stream drained or on a short interval, and `progress()` on the progress
 * notify interval.
 *
 * The guarantee, per watcher: every event on its range from its start
 * revision on is delivered once, in revision order, as long as that history
 * is retained; when it is not (compacted while the watcher lagged), the
 * watcher is cancelled with the compacted revision, never silently skipped.
 *
 * How: a watcher is either *synced* (it has seen everything up to the
 * current revision; new batches go straight to its stream) or *unsynced*
 * (it reads history from `next`, in bounded passes, until it reaches the
 * current revision and turns synced). The switch is exact because history is
 * read synchronously against the same state the feed comes from: nothing can
 * be applied between the read and the switch. A stream whose client does
 * not read (its pending bytes are over WATCH_STREAM_PENDING_BYTES_MAX) gets
 * no more live events: its synced watchers turn unsynced at the first batch
 * they miss and catch up from history once it drains (etcd's "victims"). So a
 * stuck client costs bounded memory, and a slow one loses nothing.
 */

/** What a stream gets: one etcd WatchResponse, before the API layer adds the header's cluster/member/term. */
export interface WatchResponseData {
  watchId: bigint;
  /** The header's revision: the store revision these events (or this notice) reflect. */
  revision: number;
  created?: boolean;
  canceled?: boolean;
  cancelReason?: string;
  compactRevision?: number;
  fragment?: boolean;
  events: WatchEvent[];
}

/** The transport side of a stream: the API layer's gRPC call or HTTP response. */
export interface WatchSink {
  /**
   * Queues a response; `bytes` is its estimated size, released by the sink
   * through `WatchStream.released` once flushed. A stream hands its sink the
   * next response only after the previous one's bytes were released (it
   * merges what comes meanwhile, watch-send-queue.ts).
   */
  send(response: WatchResponseData, bytes: number): void;
}

export type WatchFilter = 'NOPUT' | 'NODELETE';
/** In etcd's enum order. */
export const WATCH_FILTERS: readonly WatchFilter[] = ['NOPUT', 'NODELETE'];

export interface WatchCreate {
  key: Uint8Array;
  rangeEnd?: Uint8Array;
  /** <= 0 or absent: from the next revision. */
  startRevision?: number;
  progressNotify?: boolean;
  filters?: readonly WatchFilter[];
  prevKv?: boolean;
  /** 0n or absent: the stream picks the next free id. */
  watchId?: bigint;
  fragment?: boolean;
}

/** A decoded WatchRequest: exactly one of its oneof members. */
export type WatchAction = { type: 'create'; request: WatchCreate } | { type: 'cancel'; watchId: bigint } | { type: 'progress' };

/** The store as the hub needs it. */
export interface WatchSource {
  readonly revision: number;
  readonly compactRevision: number;
  history(query: HistoryQuery): HistoryResult;
}

const COMPACTED_REASON = 'mvcc: required revision has been compacted';
/** A rough per-event cost beyond key and value bytes (field tags, revisions, header). */
const EVENT_OVERHEAD_BYTES = 48;
const RESPONSE_OVERHEAD_BYTES = 64;

class Watcher {
  readonly range: KeyRange;
  /** The first revision this watcher has not been given. */
  next: number;
  synced: boolean;
  constructor(
    readonly stream: WatchStream,
    readonly id: bigint,
    readonly request: WatchCreate,
    start: number,
  ) {
    this.range = toKeyRange(request.key, request.rangeEnd);
    this.next = start;
    this.synced = false;
  }

  /** The events of `events` this watcher wants, trimmed to what it asked for. */
  select(events: readonly WatchEvent[], keys?: readonly ByteString[]): WatchEvent[] {
    const filters = this.request.filters ?? [];
    const out: WatchEvent[] = [];
    for (let i = 0; i < events.length; i++) {
      const event = events[i]!;
      const key = keys ? keys[i]! : toByteString(event.kv.key);
      if (!inKeyRange(this.range, key)) continue;
      if (event.type === 'PUT' && filters.includes('NOPUT')) continue;
      if (event.type === 'DELETE' && filters.includes('NODELETE')) continue;
      out.push(this.request.prevKv || event.prevKv === undefined ? event : { type: event.type, kv: event.kv });
    }
    return out;
  }
}

/** One client stream (one gRPC Watch call or one JSON gateway request): its watchers and its backlog. */
export class WatchStream {
  readonly #hub: WatchHub;
  readonly #queue: WatchSendQueue;
  readonly watchers = new Map<bigint, Watcher>();
  #nextId = 0n;
  #pendingBytes = 0;
  #closed = false;
  /** A progress request waits for every watcher to be synced. */
  #progressRequested = false;

  constructor(hub: WatchHub, sink: WatchSink) {
    this.#hub = hub;
    this.#queue = new WatchSendQueue(sink);
  }

  get pendingBytes(): number {
    return this.#pendingBytes;
  }

  get congested(): boolean {
    return this.#pendingBytes >= WATCH_STREAM_PENDING_BYTES_MAX;
  }

  /** Creates a watcher; the created notice goes out first, then events. */
  create(request: WatchCreate): void {
    if (this.#closed) return;
    const revision = this.#hub.source.revision;
    let id = request.watchId ?? 0n;
    if (id === 0n) {
      while (this.watchers.has(this.#nextId)) this.#nextId++;
      id = this.#nextId++;
    } else if (this.watchers.has(id) || id < 0n) {
      // etcd: a duplicate id is refused in a created+canceled response.
      this.#emit({ watchId: id, revision, created: true, canceled: true, cancelReason: 'mvcc: duplicate watch ID provided on the WatchStream', events: [] });
      return;
    }
    if (this.watchers.size >= WATCHERS_PER_STREAM_MAX) {
      this.#emit({ watchId: id, revision, created: true, canceled: true, cancelReason: `keel: more than ${WATCHERS_PER_STREAM_MAX} watchers on one stream`, events: [] });
      return;
    }
    const start = request.startRevision !== undefined && request.startRevision > 0 ? request.startRevision : revision + 1;
    if (start < this.#hub.source.compactRevision) {
      // etcd creates the watcher, then cancels it with the compacted revision.
      this.#emit({ watchId: id, revision, created: true, events: [] });
      this.#emit({ watchId: id, revision, canceled: true, compactRevision: this.#hub.source.compactRevision, cancelReason: COMPACTED_REASON, events: [] });
      return;
    }
    const watcher = new Watcher(this, id, request, start);
    this.watchers.set(id, watcher);
    this.#emit({ watchId: id, revision, created: true, events: [] });
    if (start > revision) this.#hub.markSynced(watcher);
    else this.#hub.markUnsynced(watcher);
  }

  /** Cancels a watcher at the client's request; unknown ids are answered too (etcd does). */
  cancel(id: bigint): void {
    if (this.#closed) return;
    const watcher = this.watchers.get(id);
    if (watcher) this.#remove(watcher);
    this.#emit({ watchId: id, revision: this.#hub.source.revision, canceled: true, events: [] });
  }

  /**
   * Cancels a watcher for the member's own reason (etcd's "etcdserver:
   * permission denied" when its reader lost READ on the range): the client
   * gets a canceled response with that cancel_reason, and no event after it.
   */
  revoke(id: bigint, cancelReason: string): void {
    if (this.#closed) return;
    const watcher = this.watchers.get(id);
    if (!watcher) return;
    this.#remove(watcher);
    this.#emit({ watchId: id, revision: this.#hub.source.revision, canceled: true, cancelReason, events: [] });
  }

  /** A client's progress request: answered once every watcher is synced, with watch id -1 (etcd 3.4). */
  requestProgress(): void {
    this.#progressRequested = true;
    this.answerProgress();
  }

  answerProgress(): void {
    if (!this.#progressRequested || this.#closed) return;
    for (const watcher of this.watchers.values()) if (!watcher.synced) return;
    this.#progressRequested = false;
    this.#emit({ watchId: -1n, revision: this.#hub.source.revision, events: [] });
  }

  /** The sink flushed `bytes` of what it was given. */
  released(bytes: number): void {
    const wasCongested = this.congested;
    this.#pendingBytes = Math.max(0, this.#pendingBytes - bytes);
    this.#queue.released(bytes);
    if (wasCongested && !this.congested) this.#hub.wantCatchUp();
  }

  /** The client went away: drop every watcher. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#queue.close();
    for (const watcher of [...this.watchers.values()]) this.#remove(watcher);
    this.#hub.streams.delete(this);
  }

  get closed(): boolean {
    return this.#closed;
  }

  #remove(watcher: Watcher): void {
    this.watchers.delete(watcher.id);
    this.#hub.forget(watcher);
  }

  /** Delivers `events` of one watcher, split into fragments when asked and large. */
  deliver(watcher: Watcher, revision: number, events: WatchEvent[]): void {
    if (events.length === 0) return;
    if (!watcher.request.fragment) {
      this.#emit({ watchId: watcher.id, revision, events });
      return;
    }
    let start = 0;
    while (start < events.length) {
      let end = start;
      let bytes = RESPONSE_OVERHEAD_BYTES;
      while (end < events.length && (end === start || bytes + eventBytes(events[end]!) <= REQUEST_BYTES_MAX)) bytes += eventBytes(events[end++]!);
      this.#emit({ watchId: watcher.id, revision, events: events.slice(start, end), ...(end < events.length ? { fragment: true } : {}) });
      start = end;
    }
  }

  /** Cancels a watcher whose next revision was compacted away. */
  compacted(watcher: Watcher, compactRevision: number): void {
    this.#remove(watcher);
    this.#emit({ watchId: watcher.id, revision: this.#hub.source.revision, canceled: true, compactRevision, cancelReason: COMPACTED_REASON, events: [] });
  }

  progressNotice(watcher: Watcher): void {
    this.#emit({ watchId: watcher.id, revision: this.#hub.source.revision, events: [] });
  }

  #emit(response: WatchResponseData): void {
    if (this.#closed) return;
    let bytes = RESPONSE_OVERHEAD_BYTES;
    for (const event of response.events) bytes += eventBytes(event);
    this.#pendingBytes += bytes;
    this.#queue.push(response, bytes);
  }
}

function eventBytes(event: WatchEvent): number {
  let bytes = EVENT_OVERHEAD_BYTES + event.kv.key.length + event.kv.value.length;
  if (event.prevKv) bytes += EVENT_OVERHEAD_BYTES + event.prevKv.key.length + event.prevKv.value.length;
  return bytes;
}

export interface WatchHubStats {
  streams: number;
  watchers: number;
  unsynced: number;
  /** Bytes of responses the streams hold for their clients: queued, or handed to the transport and not yet written (each stream bounded by WATCH_STREAM_PENDING_BYTES_MAX). */
  pendingBytes: number;
}

/** Every watch stream of one member. */
export class WatchHub {
  readonly source: WatchSource;
  readonly streams = new Set<WatchStream>();
  /** Synced watchers on exactly one key, by that key: most watches are on one key or one prefix. */
  readonly #byKey = new Map<ByteString, Set<Watcher>>();
  /** Synced watchers on a range. */
  readonly #ranges = new Set<Watcher>();
  readonly #unsynced = new Set<Watcher>();
  #catchUpWanted = false;
  readonly #onCatchUpWanted: () => void;

  /** `onCatchUpWanted` is called (at most once until the next catchUp) when unsynced watchers could make progress. */
  constructor(source: WatchSource, onCatchUpWanted: () => void = () => {}) {
    this.source = source;
    this.#onCatchUpWanted = onCatchUpWanted;
  }

  open(sink: WatchSink): WatchStream {
    const stream = new WatchStream(this, sink);
    this.streams.add(stream);
    return stream;
  }

  stats(): WatchHubStats {
    let watchers = 0;
    let pendingBytes = 0;
    for (const stream of this.streams) {
      watchers += stream.watchers.size;
      pendingBytes += stream.pendingBytes;
    }
    return { streams: this.streams.size, watchers, unsynced: this.#unsynced.size, pendingBytes };
  }

  /** The store's listener: one applied batch. */
  onBatch(batch: EventBatch): void {
    if (this.#byKey.size === 0 && this.#ranges.size === 0) return;
    const keys = batch.events.map((event) => toByteString(event.kv.key));
    const targets = new Set<Watcher>();
    for (const key of keys) {
      const exact = this.#byKey.get(key);
      if (exact) for (const watcher of exact) targets.add(watcher);
    }
    for (const watcher of this.#ranges) targets.add(watcher);
    for (const watcher of targets) {
      if (batch.revision < watcher.next) continue; // a watch on a future revision
      if (watcher.stream.congested) {
        // It misses this batch: from here on it reads history instead.
        this.markUnsynced(watcher);
        continue;
      }
      watcher.stream.deliver(watcher, batch.revision, watcher.select(batch.events, keys));
      watcher.next = batch.revision + 1;
    }
  }

  /**
   * The state was replaced by a snapshot (a lagging member caught up by one):
   * the revisions in between were never published as batches, so every
   * synced watcher reads them from history.
   */
  onRestore(): void {
    for (const stream of this.streams) for (const watcher of stream.watchers.values()) if (watcher.synced) this.markUnsynced(watcher);
  }

  /**
   * One bounded pass over the unsynced watchers: each reads history from its
   * next revision, up to WATCH_CATCH_UP_EVENTS_PER_PASS events in all.
   * Returns true when unsynced watchers remain that could progress now
   * (call again soon); false when none can until a stream drains.
   */
  catchUp(): boolean {
    this.#catchUpWanted = false;
    let budget = WATCH_CATCH_UP_EVENTS_PER_PASS;
    const current = this.source.revision;
    for (const watcher of [...this.#unsynced]) {
      if (budget <= 0) break;
      if (watcher.stream.congested || watcher.stream.closed) continue;
      let result: HistoryResult;
      try {
        result = this.source.history({
          key: watcher.request.key,
          ...(watcher.request.rangeEnd ? { rangeEnd: watcher.request.rangeEnd } : {}),
          startRevision: watcher.next,
          prevKv: watcher.request.prevKv === true,
          eventsMax: Math.min(budget, WATCH_CATCH_UP_EVENTS_PER_PASS),
        });
      } catch (error) {
        if (error instanceof CompactedError) {
          watcher.stream.compacted(watcher, this.source.compactRevision);
          continue;
        }
        if (StoreError.is(error)) continue;
        throw error;
      }
      budget -= Math.max(1, result.events.length);
      watcher.stream.deliver(watcher, current, watcher.select(result.events));
      watcher.next = result.nextRevision;
      if (watcher.next > current) this.markSynced(watcher);
    }
    for (const stream of this.streams) stream.answerProgress();
    for (const watcher of this.#unsynced) if (!watcher.stream.congested) return true;
    return false;
  }

  /** Progress notify: every synced watcher that asked for it hears the current revision. */
  progress(): void {
    for (const stream of this.streams) {
      if (stream.congested) continue;
      for (const watcher of stream.watchers.values()) if (watcher.synced && watcher.request.progressNotify) stream.progressNotice(watcher);
    }
  }

  wantCatchUp(): void {
    if (this.#catchUpWanted || this.#unsynced.size === 0) return;
    this.#catchUpWanted = true;
    this.#onCatchUpWanted();
  }

  markSynced(watcher: Watcher): void {
    this.#unsynced.delete(watcher);
    watcher.synced = true;
    if (isSingleKey(watcher.range)) {
      let set = this.#byKey.get(watcher.range.start);
      if (!set) this.#byKey.set(watcher.range.start, (set = new Set()));
      set.add(watcher);
    } else {
      this.#ranges.add(watcher);
    }
  }

  markUnsynced(watcher: Watcher): void {
    this.#detachSynced(watcher);
    watcher.synced = false;
    this.#unsynced.add(watcher);
    this.wantCatchUp();
  }

  forget(watcher: Watcher): void {
    this.#detachSynced(watcher);
    this.#unsynced.delete(watcher);
  }

  #detachSynced(watcher: Watcher): void {
    if (!watcher.synced) return;
    if (isSingleKey(watcher.range)) {
      const set = this.#byKey.get(watcher.range.start);
      set?.delete(watcher);
      if (set && set.size === 0) this.#byKey.delete(watcher.range.start);
    } else {
      this.#ranges.delete(watcher);
    }
  }
}

function isSingleKey(range: KeyRange): boolean {
  return range.end !== null && range.end.length === range.start.length + 1 && range.end === range.start + '\0';
}
