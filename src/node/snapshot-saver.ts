import type { Snapshot, SnapshotMetadata } from '../raft/types.js';
import type { FileStorage, SnapshotChunks } from '../storage/index.js';
import { StorageError } from '../storage/index.js';
import { releaseSnapshotState, SnapshotEncoder, type SnapshotState } from '../store/index.js';
import { snapshotPrefix } from './membership.js';

/** Bytes of encoded state per chunk: a few ms of encoding on the event loop (small records cost more per byte than large values), then a write off it. */
export const SNAPSHOT_CHUNK_BYTES = 256 * 1024;

/** What a member hands the saver at the moment it decides to snapshot. */
export interface SnapshotCapture {
  /** Index, term and configuration of the applied entry the state is at. */
  readonly metadata: SnapshotMetadata;
  /** The replicated membership table's bytes at that index. */
  readonly membership: Uint8Array;
  /** The store's state at that index (records walked as they were then; released when the save ends). */
  readonly state: SnapshotState;
}

/** How a saved snapshot went, for the log line and the metric. */
export interface SnapshotSaved {
  readonly snapshot: Snapshot;
  readonly seconds: number;
  readonly bytes: number;
  readonly chunks: number;
  /** The longest piece of synchronous work (capture or one chunk's encoding): what the event loop waited for at most. */
  readonly longestStepSeconds: number;
}

export interface SnapshotSaverOptions {
  readonly storage: FileStorage;
  readonly chunkBytes?: number;
  /** Called once the file is durable and read back, unless the saver was stopped: adopt it (RaftLoop.adoptSnapshot) and log it. */
  readonly saved: (result: SnapshotSaved) => void;
}

/**
 * Saves a member's periodic (and defragment's) snapshot without blocking
 * its event loop for long. `save()` takes the state as it is at that moment
 * (one synchronous pass copying references: the records are immutable), then
 * encodes it one chunk at a time, each chunk written off the loop before the
 * next is encoded (FileStorage.saveSnapshotStreamed), so ticks, heartbeats,
 * peer messages and client requests run between chunks. Applies go on
 * meanwhile; the snapshot is at the captured index. One save at a time:
 * a `save()` while one runs returns the running one.
 *
 * Crash safety is the file's (temporary file, fsync, rename, directory
 * fsync): a crash at any point leaves the older snapshot, or the new one
 * whole. The log it covers is released only after it is durable.
 */
export class SnapshotSaver {
  readonly #options: SnapshotSaverOptions;
  readonly #abort = new AbortController();
  #running: Promise<SnapshotSaved | undefined> | undefined;

  constructor(options: SnapshotSaverOptions) {
    this.#options = options;
  }

  /** True while a snapshot is being written. */
  get running(): boolean {
    return this.#running !== undefined;
  }

  /** The save in progress, if any (resolves as {@link save}'s promise does). */
  get current(): Promise<SnapshotSaved | undefined> | undefined {
    return this.#running;
  }

  /**
   * Starts saving what `capture()` returns now (called only when no save is
   * running). Resolves with what was saved, or undefined when stopped
   * first; rejects with the storage error that stopped it.
   */
  save(capture: () => SnapshotCapture): Promise<SnapshotSaved | undefined> {
    if (this.#running !== undefined) return this.#running;
    if (this.#abort.signal.aborted) return Promise.resolve(undefined);
    const started = performance.now();
    const captured = capture();
    const captureSeconds = (performance.now() - started) / 1000;
    this.#running = this.#run(captured, started, captureSeconds).finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  /** Abandons a save in progress (its temporary file is removed) and resolves once it has let go of the disk. Later saves do nothing. */
  async stop(): Promise<void> {
    this.#abort.abort();
    await this.#running?.catch(() => undefined);
  }

  async #run(captured: SnapshotCapture, started: number, captureSeconds: number): Promise<SnapshotSaved | undefined> {
    const chunks = new TimedChunks(captured, this.#options.chunkBytes ?? SNAPSHOT_CHUNK_BYTES);
    let snapshot: Snapshot;
    try {
      snapshot = await this.#options.storage.saveSnapshotStreamed(captured.metadata, chunks, this.#abort.signal);
    } catch (error) {
      if (StorageError.is(error) && error.code === 'KEEL_STORAGE_SNAPSHOT_ABORTED') return undefined;
      throw error;
    } finally {
      releaseSnapshotState(captured.state); // encoded to the end it has released itself; stopped early, the store stops preserving for it
    }
    if (this.#abort.signal.aborted) return undefined;
    const result: SnapshotSaved = {
      snapshot,
      seconds: (performance.now() - started) / 1000,
      bytes: snapshot.data.length,
      chunks: chunks.count,
      longestStepSeconds: Math.max(captureSeconds, chunks.longestSeconds),
    };
    this.#options.saved(result);
    return result;
  }
}

/** The member's snapshot data (membership prefix, then the store's chunks), timing each chunk's encoding. */
class TimedChunks implements SnapshotChunks {
  readonly #captured: SnapshotCapture;
  readonly #chunkBytes: number;
  #encoder: SnapshotEncoder | undefined;
  count = 0;
  longestSeconds = 0;

  constructor(captured: SnapshotCapture, chunkBytes: number) {
    this.#captured = captured;
    this.#chunkBytes = chunkBytes;
  }

  next(): Uint8Array | undefined {
    const started = performance.now();
    let chunk: Uint8Array | undefined;
    if (this.#encoder === undefined) {
      this.#encoder = new SnapshotEncoder(this.#captured.state);
      chunk = snapshotPrefix(this.#captured.membership);
    } else {
      chunk = this.#encoder.next(this.#chunkBytes);
    }
    this.longestSeconds = Math.max(this.longestSeconds, (performance.now() - started) / 1000);
    if (chunk !== undefined) this.count++;
    return chunk;
  }
}
