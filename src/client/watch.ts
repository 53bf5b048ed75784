/**
 * Watch over the JSON gateway's `/v3/watch` stream, resumed across members.
 *
 * The guarantee: every event on the watched range from the start revision
 * on is delivered once, in revision order, while that history is retained.
 * The watch remembers the next revision it needs (the last event's
 * revision + 1, or a progress notification's revision + 1: the server sends
 * those only once the watcher has caught up). When the stream breaks it
 * reconnects to another member with `start_revision` = that revision; a
 * member that is behind waits until it has applied it (docs/etcd-api.md), so
 * nothing is skipped, and events below it are dropped, so nothing repeats.
 * This relies on the server never splitting one revision's events over two
 * responses, which holds as long as `fragment` is not asked for (it is not).
 * If the history it needs was compacted, the iteration fails with
 * WatchCompactedError (KEEL_CLIENT_WATCH_COMPACTED) carrying the compact
 * revision.
 */
import { type Bytes, int, int64Argument, type KeyValue, parseHeader, parseKeyValue, prefixRangeEnd, toBase64, toBuffer } from './codec.js';
import { InvalidArgumentError, WatchCanceledError, WatchCompactedError } from './errors.js';
import { ResumingStream, type StreamOptions, type StreamProtocol, type StreamTransport } from './resuming-stream.js';

export type WatchFilter = 'NOPUT' | 'NODELETE';

export interface WatchOptions extends StreamOptions {
  /** Every key starting with the key. */
  readonly prefix?: boolean;
  /** End of the range, exclusive (ignored with `prefix`). */
  readonly rangeEnd?: Bytes;
  /** The first revision to deliver (default: changes after the current revision). */
  readonly startRevision?: number;
  /** Each event also carries the key as it was before it. */
  readonly prevKv?: boolean;
  /** Event types the server leaves out. */
  readonly filters?: readonly WatchFilter[];
  /** Ask the server for periodic progress notifications (they advance the resume point; they are not delivered as batches). */
  readonly progressNotify?: boolean;
}

export interface WatchEvent {
  readonly type: 'PUT' | 'DELETE';
  /** The key after the event (for a DELETE: the key with the delete's mod revision and no value). */
  readonly kv: KeyValue;
  /** The key before the event, when `prevKv` was asked for and it existed. */
  readonly prevKv: KeyValue | undefined;
}

/** The events of one watch response, in revision order; never empty. */
export interface WatchBatch {
  /** The store revision of the member that sent them. */
  readonly headerRevision: number;
  readonly events: readonly WatchEvent[];
}

/** The wire side of a watch: the create request for where it is, and the resume bookkeeping. */
class WatchProtocol implements StreamProtocol<WatchBatch> {
  readonly path = '/v3/watch';
  readonly #create: Record<string, unknown>;
  /** The next revision the consumer has not seen; 0 until the first stream says where "now" is. */
  nextRevision: number;

  constructor(key: Bytes, options: WatchOptions) {
    const keyBytes = toBuffer(key);
    if (keyBytes.length === 0) throw new InvalidArgumentError('watch key must not be empty');
    this.#create = { key: keyBytes.toString('base64') };
    if (options.prefix === true) this.#create.range_end = prefixRangeEnd(keyBytes).toString('base64');
    else if (options.rangeEnd !== undefined) this.#create.range_end = toBase64(options.rangeEnd);
    if (options.prevKv === true) this.#create.prev_kv = true;
    if (options.progressNotify === true) this.#create.progress_notify = true;
    if (options.filters !== undefined && options.filters.length > 0) {
      for (const filter of options.filters) if (filter !== 'NOPUT' && filter !== 'NODELETE') throw new InvalidArgumentError(`unknown watch filter ${String(filter)}`);
      this.#create.filters = [...options.filters];
    }
    this.nextRevision = options.startRevision === undefined || options.startRevision === 0 ? 0 : Number(int64Argument(options.startRevision, 'startRevision'));
  }

  request(): unknown {
    return { create_request: { ...this.#create, ...(this.nextRevision > 0 ? { start_revision: String(this.nextRevision) } : {}) } };
  }

  /** A progress request: the member answers once the watch has caught up, so an answer also proves the member is alive. */
  probe(): unknown {
    return { progress_request: {} };
  }

  accept(result: Record<string, unknown>): { items: WatchBatch[]; established: boolean } {
    const header = parseHeader(result.header);
    if (result.canceled === true) {
      const compactRevision = int(result.compact_revision, 'compact_revision');
      if (compactRevision > 0) throw new WatchCompactedError(compactRevision, this.nextRevision);
      throw new WatchCanceledError(typeof result.cancel_reason === 'string' ? result.cancel_reason : '');
    }
    const rawEvents = Array.isArray(result.events) ? (result.events as unknown[]) : [];
    if (result.created === true) {
      if (this.nextRevision === 0) this.nextRevision = header.revision + 1;
      return { items: [], established: true };
    }
    if (rawEvents.length === 0) {
      // A progress notification: every event up to header.revision has been sent.
      if (this.nextRevision > 0) this.nextRevision = Math.max(this.nextRevision, header.revision + 1);
      return { items: [], established: false };
    }
    const events = rawEvents.map(parseEvent).filter((event) => event.kv.modRevision >= this.nextRevision);
    if (events.length === 0) return { items: [], established: false };
    this.nextRevision = events[events.length - 1]!.kv.modRevision + 1;
    return { items: [{ headerRevision: header.revision, events }], established: false };
  }
}

function parseEvent(value: unknown): WatchEvent {
  const event = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>;
  const prev = event.prev_kv ?? event.prevKv;
  return { type: event.type === 'DELETE' ? 'DELETE' : 'PUT', kv: parseKeyValue(event.kv), prevKv: prev === undefined ? undefined : parseKeyValue(prev) };
}

/**
 * A running watch: iterate it with `for await (const batch of watch)`.
 * One consumer at a time. `close()` (or breaking out of the loop, or the
 * signal) ends it; an error that reconnecting cannot fix rejects the
 * iteration with its typed error.
 */
export class Watch implements AsyncIterable<WatchBatch> {
  readonly #protocol: WatchProtocol;
  readonly #stream: ResumingStream<WatchBatch>;

  /** Use KeelClient.watch(). */
  constructor(transport: StreamTransport, key: Bytes, options: WatchOptions = {}) {
    this.#protocol = new WatchProtocol(key, options);
    this.#stream = new ResumingStream(transport, this.#protocol, options);
  }

  /** The first revision not yet received (0 before the first stream was established). */
  get nextRevision(): number {
    return this.#protocol.nextRevision;
  }

  /** The member the watch streams from (or did, last). */
  get endpoint(): string | undefined {
    return this.#stream.endpoint;
  }

  /** Times the watch was resumed after its stream broke. */
  get reconnects(): number {
    return this.#stream.reconnects;
  }

  close(): Promise<void> {
    return this.#stream.close();
  }

  [Symbol.asyncIterator](): AsyncIterator<WatchBatch, undefined> {
    return this.#stream[Symbol.asyncIterator]();
  }
}
