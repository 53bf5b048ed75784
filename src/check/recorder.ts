/**
 * A recorder around keel's client: every read, write and compare-and-set
 * goes through it and is written as keel JSONL events (see formats/keel.ts),
 * ready for `keel check`.
 *
 * - Times are monotonic nanoseconds (process.hrtime) since this module
 *   loaded, shared by every recorder in the process, so histories of
 *   concurrent recorders interleave correctly.
 * - Written values are unique: `<clientId>-<counter>`. Give each recorder its
 *   own clientId; unique values let the checker use its polynomial fast path.
 * - Outcomes follow the client's own failure classification: a write whose
 *   error says it may have been applied (`mayHaveApplied`, from
 *   `classifyFailure`: a timeout, a lost connection after sending, an etcd
 *   503) is recorded `info` (unknown), never `fail`; only an error proving it
 *   was not applied is `fail`. An error that is not the client's is `info`
 *   too (nothing proves it was not applied). A cas whose compare did not
 *   match is `fail` (no effect). A failed read is `fail` (reads have no effect).
 * - After an `info`, the operation is still open as far as the history knows,
 *   so the recorder continues as a new process (clientId + k * processStride),
 *   as Jepsen does.
 */
import type { CompareAndSwapResult, KeyValue, PutResult, RangeResult, WatchBatch } from '../client/index.js';
import { classifyFailure, KeelClientError } from '../client/index.js';
import { CheckUsageError } from './errors.js';
import { formatKeelEvent, formatWatchDelivery, formatWatchStart } from './formats/keel.js';
import type { OperationName, OperationType, Scalar } from './history.js';

/** The part of KeelClient the recorder uses (a fake in tests). */
export interface RecordedClient {
  put(key: string, value: string): Promise<PutResult>;
  get(key: string): Promise<KeyValue | undefined>;
  /** When present, reads use it, so they record the revision they were served at (etcd's revisioned checks). */
  range?(key: string): Promise<RangeResult>;
  compareAndSwap(key: string, expected: string | number, newValue: string): Promise<CompareAndSwapResult>;
}

export interface RecorderOptions {
  readonly client: RecordedClient;
  /** This logical client's number, unique among the recorders of one history; below processStride. */
  readonly clientId: number;
  /** Receives one JSONL line (no newline) per event. */
  readonly sink: (line: string) => void;
  /** Process numbers of one client are clientId + k * processStride (default 1000). */
  readonly processStride?: number;
  /** Monotonic time in nanoseconds (default: process.hrtime since this module loaded). */
  readonly clock?: () => number;
}

const ORIGIN = process.hrtime.bigint();
const monotonicNanoseconds = (): number => Number(process.hrtime.bigint() - ORIGIN);

/** The recorders' clock (monotonic nanoseconds), for lines written beside them such as faults. */
export const historyClock = monotonicNanoseconds;

/** How a failed write is recorded: `fail` only when the error proves the store was left alone. */
export function writeOutcome(error: unknown): 'fail' | 'info' {
  const kind = classifyFailure(error);
  if (kind === 'not-applied') return 'fail';
  if (kind === 'unknown-outcome' || !KeelClientError.is(error)) return 'info';
  // A final error of a write call: the client has worked out whether any attempt may have applied it.
  return error.mayHaveApplied ? 'info' : 'fail';
}

export class HistoryRecorder {
  readonly #client: RecordedClient;
  readonly #clientId: number;
  readonly #sink: (line: string) => void;
  readonly #stride: number;
  readonly #clock: () => number;
  #process: number;
  #written = 0;
  #busy = false;

  constructor(options: RecorderOptions) {
    const stride = options.processStride ?? 1000;
    if (!(Number.isSafeInteger(options.clientId) && options.clientId >= 0 && options.clientId < stride)) throw new CheckUsageError(`clientId must be an integer in [0, ${stride})`);
    this.#client = options.client;
    this.#clientId = options.clientId;
    this.#sink = options.sink;
    this.#stride = stride;
    this.#clock = options.clock ?? monotonicNanoseconds;
    this.#process = options.clientId;
  }

  /** The process number the next operation is recorded under. */
  get process(): number {
    return this.#process;
  }

  /** Reads `key`; the value, or null when absent. */
  async read(key: string): Promise<string | null> {
    return this.#run('read', key, null, async () => {
      if (this.#client.range !== undefined) {
        const result = await this.#client.range(key);
        const kv = result.kvs[0];
        const value = kv === undefined ? null : kv.value.toString('utf8');
        return { type: 'ok', result: value, value, revision: result.header.revision, modRevision: kv?.modRevision ?? 0 };
      }
      const kv = await this.#client.get(key);
      const value = kv === undefined ? null : kv.value.toString('utf8');
      return { type: 'ok', result: value, value };
    }, () => 'fail');
  }

  /** Writes a fresh unique value to `key` and returns it (also when the call fails: the caller may want to look for it). */
  async write(key: string): Promise<string> {
    const value = this.#nextValue();
    await this.#run('write', key, value, async () => {
      const result = await this.#client.put(key, value);
      return { type: 'ok', result: value, value, revision: result.header.revision };
    }, writeOutcome);
    return value;
  }

  /** Sets `key` to a fresh unique value if it holds `expected` (null: absent). True if it did. */
  async cas(key: string, expected: string | null): Promise<{ readonly succeeded: boolean; readonly value: string }> {
    const value = this.#nextValue();
    const succeeded = await this.#run('cas', key, [expected, value], async () => {
      const result = await this.#client.compareAndSwap(key, expected ?? 0, value);
      return { type: result.succeeded ? 'ok' : 'fail', result: [expected, value], value: result.succeeded, ...(result.succeeded ? { revision: result.revision } : {}) };
    }, writeOutcome);
    return { succeeded, value };
  }

  #nextValue(): string {
    this.#written += 1;
    return `${this.#clientId}-${this.#written}`;
  }

  async #run<T>(
    f: OperationName, key: string, argument: Scalar | readonly [Scalar, Scalar],
    call: () => Promise<{ type: OperationType; result: Scalar | readonly [Scalar, Scalar]; value: T; revision?: number; modRevision?: number }>, onError: (error: unknown) => 'fail' | 'info',
  ): Promise<T> {
    if (this.#busy) throw new CheckUsageError('a recorder runs one operation at a time (it is one process); use one recorder per concurrent client');
    this.#busy = true;
    const process = String(this.#process);
    this.#sink(formatKeelEvent({ process, type: 'invoke', f, key, value: argument, time: this.#clock() }));
    try {
      const outcome = await call();
      this.#sink(formatKeelEvent({ process, type: outcome.type, f, key, value: outcome.result, time: this.#clock(), revision: outcome.revision, modRevision: outcome.modRevision }));
      return outcome.value;
    } catch (error) {
      const type = onError(error);
      this.#sink(formatKeelEvent({ process, type, f, key, value: argument, time: this.#clock() }));
      // The operation may still be in flight: later operations belong to a new process.
      if (type === 'info') this.#process += this.#stride;
      throw error;
    } finally {
      this.#busy = false;
    }
  }
}

/** A watch stream as the recorder needs it: KeelClient.watch's result. */
export type RecordedWatch = AsyncIterable<WatchBatch>;

/**
 * Records a watch stream for etcd's revisioned checks: a `watch-start` line
 * (the prefix and the first revision it covers), then one line per
 * delivered event, in delivery order, until the stream ends (close it to
 * stop). Returns the number of events recorded. A stream that fails (a
 * compaction, a closed client) ends the recording; what was delivered
 * before stays checkable.
 */
export async function recordWatch(options: {
  readonly watch: RecordedWatch;
  readonly watcher: string;
  readonly prefix: string;
  readonly startRevision: number;
  readonly sink: (line: string) => void;
  readonly clock?: () => number;
}): Promise<number> {
  const clock = options.clock ?? monotonicNanoseconds;
  options.sink(formatWatchStart({ watcher: options.watcher, prefix: options.prefix, revision: options.startRevision }));
  let events = 0;
  try {
    for await (const batch of options.watch) {
      for (const event of batch.events) {
        events += 1;
        options.sink(formatWatchDelivery({
          watcher: options.watcher, event: event.type === 'DELETE' ? 'delete' : 'put', key: event.kv.key.toString('utf8'),
          value: event.type === 'DELETE' ? null : event.kv.value.toString('utf8'), revision: event.kv.modRevision, time: clock(),
        }));
      }
    }
  } catch {
    // The stream ended in an error: the events before it are recorded, and the checker covers up to the last one.
  }
  return events;
}
