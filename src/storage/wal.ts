import { join } from 'node:path';
import type { HardState } from '../raft/types.js';
import { StorageFailedError, StorageUsageError, WalCorruptError } from './errors.js';
import { failpoint, failpointAsync, failpointsEnabled } from './failpoints.js';
import { fdatasyncAsync, type FileSystem, fsyncDirectory, ioError, offLoop, writeFully, writeFullyAsync, writePartsAsync } from './file-system.js';
import { SEGMENTS_MAX, WAL_GROUP_APPENDS_MAX, WAL_GROUP_BYTES_MAX, WAL_QUEUE_APPENDS_MAX, ZERO_FILL_CHUNK_BYTES } from './limits.js';
import type { LogRecord } from './replay.js';
import { readFileInChunks } from './chunked-read.js';
import type { Entry } from '../raft/types.js';
import { LogIndexMap } from './log-index-map.js';
import { type BatchParts, decodeEntryRecord, encodeBatch, encodeBatchParts, encodeSegmentHeader, entryPayloadBytes, parseSegmentFileName, recordSizeBytes, scanSegment, segmentFileName } from './wal-format.js';

export interface WalOptions {
  readonly fileSystem: FileSystem;
  readonly segmentSizeBytes: number;
  /**
   * The async writer prepares the next segment's file ahead of its rotation
   * (Wal's #prepareSpare). Default true; tests that count the file system's
   * calls, or fail the N-th one, turn it off, since a spare's zero fill makes
   * calls of its own in between.
   */
  readonly spareSegments?: boolean;
}

interface Segment {
  readonly sequence: number;
  readonly firstIndex: number;
  readonly name: string;
}

/** A WAL segment as a read-back needs it: its file and the salt its records' checksums are seeded with. */
interface SegmentRef {
  readonly name: string;
  readonly salt: number;
}

/** Where one entry's record lies in the WAL. */
interface EntryLocation {
  readonly segment: SegmentRef;
  /** Offset of the record's header in the segment file. */
  readonly offset: number;
  /** The record's bytes, header and padding included. */
  readonly sizeBytes: number;
}

/** One {@link Wal.appendAsync} call waiting for the writer. */
interface PendingAppend {
  readonly records: readonly LogRecord[];
  readonly sync: boolean;
  readonly lastIndex: number;
  readonly sizeBytes: number;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

/** True for a non-empty batch of hard-state records alone (a Ready that only moves the commit index). */
function isHardStateOnly(records: readonly LogRecord[]): boolean {
  if (records.length === 0) return false;
  for (const record of records) if (record.kind !== 'hardState') return false;
  return true;
}

/** What {@link Wal.open} recovered. */
export interface WalContents {
  readonly records: LogRecord[];
  /** Every entry at or after this index is in the log (earlier ones were released). */
  readonly coverageStart: number;
  /** Set when a torn tail was cut off: where. */
  readonly tornTail: { readonly file: string; readonly offset: number } | undefined;
}

/**
 * The write-ahead log: append-only, preallocated segment files (format in
 * wal-format.ts). One `append` is one batch, written with one `write` and,
 * when asked, made durable with one `fdatasync`.
 *
 * Two write paths, never mixed while async appends are outstanding:
 *
 * - `append` is synchronous (startup, tools, tests).
 * - `appendAsync` is the member's path: the `write` and `fdatasync` run on
 *   libuv's threadpool, so the event loop keeps ticking, taking peer
 *   messages and client requests while the disk works. Appends queue in
 *   call order; one writer takes everything queued (up to
 *   WAL_GROUP_APPENDS_MAX appends / WAL_GROUP_BYTES_MAX bytes) as ONE batch,
 *   with one write and one fdatasync: while one group syncs the next
 *   accumulates (group commit). Each promise resolves only once its records
 *   are on stable storage (when any append of the group asked for sync), in
 *   call order.
 *
 * What is durable when, and why a crash is safe: a group is one batch in the
 * segment format, with a CRC per record and the batch number in the frame.
 * A crash before the fdatasync returns may leave any prefix of the group's
 * bytes, in any sector order; recovery (`scanSegment` on the last segment)
 * treats a batch that does not check as a torn tail and cuts it, so a group
 * comes back whole or not at all, and never a later group without an
 * earlier one (they are written one after another, each after the previous
 * one's fdatasync). No promise resolved for a record that recovery can lose.
 * Segment rotation happens only between groups (off the loop on this
 * path), and releases delete only segments older than the one written to.
 */
export class Wal {
  readonly #dir: string;
  readonly #fs: FileSystem;
  readonly #segmentSizeBytes: number;
  readonly #spareSegments: boolean;
  #segments: Segment[] = [];
  #fd = -1;
  #salt = 0;
  /** Byte offset of the next record in the current segment. */
  #position = 0;
  /** File size of the current segment (its preallocated size, or more after an oversized batch). */
  #fileSizeBytes = 0;
  #batch = 0;
  #lastIndex = 0;
  #hardState: HardState | undefined;
  #dirty = false;
  #failure: unknown;
  /** Batch number before the current segment's first batch. */
  #segmentStartBatch = 0;
  /** Async appends not yet taken by the writer, in call order (bounded by WAL_QUEUE_APPENDS_MAX). */
  #queue: PendingAppend[] = [];
  /**
   * The newest unsynced hard state, held in memory until the next write
   * ({@link appendAsync}): written in front of that write's records, or by
   * close(). At most one: only the newest hard state counts at replay.
   */
  #deferred: LogRecord | undefined;
  /** True while the async writer runs a group. */
  #writing = false;
  /** close() was called while a group was being written: close once it ends. */
  #closeRequested = false;
  /** Last index of every append accepted, including queued ones. */
  #acceptedLastIndex = 0;
  /** The tail of the chain of releases running off the loop ({@link releaseToAsync}); settles, never rejects. */
  #releasing: Promise<void> = Promise.resolve();
  /** Releases started by {@link releaseToAsync} and not yet finished. */
  #releasesPending = 0;
  /** The next segment's file, zero-filled and synced ahead of the rotation that takes it (async path only; see #prepareSpare). */
  #spare: Promise<SpareSegment | undefined> | undefined;
  /** Where each entry since the last release was written ({@link readEntry}). */
  readonly #locations = new LogIndexMap<EntryLocation>();
  /** The segment appends go to, as a read-back names it. */
  #current: SegmentRef | undefined;
  /** One segment kept open for read-backs (they come in runs from one segment: a follower catching up). */
  #reader: { readonly name: string; readonly fd: number } | undefined;

  private constructor(dir: string, options: WalOptions) {
    this.#dir = dir;
    this.#fs = options.fileSystem;
    this.#segmentSizeBytes = options.segmentSizeBytes;
    this.#spareSegments = options.spareSegments ?? true;
  }

  /**
   * Opens (creating if empty) the log in `dir`, recovers its records, cuts a
   * torn tail off the last segment and positions the writer after it. A new
   * log's first segment starts at `initialFirstIndex`. The caller replays the
   * records and reports the result with {@link setRecoveredState}.
   */
  static open(dir: string, options: WalOptions, initialFirstIndex: number): { wal: Wal; contents: WalContents } {
    const wal = new Wal(dir, options);
    const recovery = wal.#recover(initialFirstIndex);
    let step = recovery.next();
    while (!step.done) step = recovery.next(options.fileSystem.readFileSync(join(dir, step.value)));
    return { wal, contents: step.value };
  }

  /**
   * {@link open} with each segment read off the event loop, in chunks into
   * one buffer per segment (chunked-read.ts), one segment at a time as
   * `open` does; the scan of each (records, checksums, torn tail) is the
   * same code, still on the loop.
   */
  static async openAsync(dir: string, options: WalOptions, initialFirstIndex: number): Promise<{ wal: Wal; contents: WalContents }> {
    const wal = new Wal(dir, options);
    const recovery = wal.#recover(initialFirstIndex);
    let step = recovery.next();
    while (!step.done) step = recovery.next(await readFileInChunks(options.fileSystem, join(dir, step.value)));
    return { wal, contents: step.value };
  }

  /** Tells the writer the log's last index after recovery (it names the next segment). */
  setRecoveredState(lastIndex: number, hardState: HardState | undefined): void {
    this.#lastIndex = lastIndex;
    this.#acceptedLastIndex = lastIndex;
    this.#hardState = hardState;
  }

  /** Last index of the log as appended so far, counting async appends still queued or being written. */
  get lastIndex(): number {
    return this.#acceptedLastIndex;
  }

  /** True while async appends are queued or being written. */
  get busy(): boolean {
    return this.#writing || this.#queue.length > 0;
  }

  /**
   * Appends one batch off the event loop; resolves once it is written (and,
   * with `sync`, on stable storage), in call order. See the class comment for
   * the group commit and what a crash leaves. Rejects with the write's typed
   * error (and every later call with KEEL_STORAGE_FAILED) when the disk fails.
   */
  appendAsync(records: readonly LogRecord[], sync: boolean, lastIndex: number): Promise<void> {
    this.#checkUsable();
    if (this.#closeRequested) throw new StorageUsageError('the write-ahead log is closing');
    if (this.#queue.length >= WAL_QUEUE_APPENDS_MAX) throw new StorageUsageError(`more than ${WAL_QUEUE_APPENDS_MAX} async appends queued`);
    if (!sync && this.#queue.length === 0 && isHardStateOnly(records)) {
      // A batch that only moves the commit index, unsynced: a crash may lose it whether it is written now or
      // with the next batch, so it waits in memory for that batch (etcd's WAL likewise leaves an unsynced hard
      // state in its write buffer until the next sync). It would otherwise cost every committed write a
      // threadpool round trip on every member, during which the member takes no new Ready. With an empty
      // queue, whatever is appended next comes after it in call order, and the next group writes it first.
      this.#deferred = records[records.length - 1];
      return Promise.resolve();
    }
    let sizeBytes = 0;
    for (const record of records) sizeBytes += record.kind === 'entry' ? record.entry.data.byteLength + 64 : 64;
    if (this.#spareSegments) this.#spare ??= this.#prepareSpare();
    this.#acceptedLastIndex = lastIndex;
    const done = new Promise<void>((resolve, reject) => this.#queue.push({ records, sync, lastIndex, sizeBytes, resolve, reject }));
    if (!this.#writing) void this.#drain();
    return done;
  }

  /** The writer: one group at a time, until the queue is empty. */
  async #drain(): Promise<void> {
    this.#writing = true;
    try {
      while (this.#queue.length > 0) {
        const group = this.#takeGroup();
        try {
          await this.#writeGroup(group);
          for (const pending of group) pending.resolve();
        } catch (error) {
          for (const pending of group) pending.reject(error);
          const rest = this.#queue;
          this.#queue = [];
          for (const pending of rest) pending.reject(new StorageFailedError(error));
        }
      }
    } finally {
      this.#writing = false;
      if (this.#closeRequested) this.close();
    }
  }

  #takeGroup(): PendingAppend[] {
    let count = 0;
    let bytes = 0;
    while (count < this.#queue.length && count < WAL_GROUP_APPENDS_MAX) {
      const next = this.#queue[count]!;
      if (count > 0 && bytes + next.sizeBytes > WAL_GROUP_BYTES_MAX) break;
      bytes += next.sizeBytes;
      count++;
    }
    return this.#queue.splice(0, count);
  }

  async #writeGroup(group: readonly PendingAppend[]): Promise<void> {
    if (this.#failure !== undefined) throw new StorageFailedError(this.#failure);
    const records = this.#withDeferred(group.flatMap((pending) => pending.records));
    const sync = group.some((pending) => pending.sync);
    const lastIndex = group[group.length - 1]!.lastIndex;
    if (records.length > 0) {
      const offsets: number[] = [];
      let batch = encodeBatchParts(records, this.#salt, this.#batch + 1, offsets);
      if (this.#position + batch.bytes > this.#fileSizeBytes && this.#hasRecords()) {
        await this.#rotateAsync();
        offsets.length = 0;
        batch = encodeBatchParts(records, this.#salt, this.#batch + 1, offsets);
      }
      const start = this.#position;
      await this.#guardAsync(async () => {
        // No await before the write unless a failpoint is set: the write reaches the threadpool in the caller's turn.
        if (failpointsEnabled()) await failpointAsync('wal-before-write');
        await this.#writeAsync(batch);
        if (failpointsEnabled()) await failpointAsync('wal-after-write');
        if (sync) await this.#syncAsync();
      });
      this.#batch++;
      this.#noteWritten(records, offsets, start);
      for (const record of records) if (record.kind === 'hardState') this.#hardState = record.hardState;
    } else if (sync && this.#dirty) {
      await this.#guardAsync(() => this.#syncAsync());
    }
    this.#lastIndex = lastIndex;
  }

  async #writeAsync(batch: BatchParts): Promise<void> {
    const position = this.#position;
    try {
      await writePartsAsync(this.#fs, this.#fd, batch.parts, position);
    } catch (error) {
      this.#undoPartialWrite();
      throw ioError(this.#currentName(), 'write', error);
    }
    this.#position = position + batch.bytes;
    this.#fileSizeBytes = Math.max(this.#fileSizeBytes, this.#position);
    this.#dirty = true;
  }

  async #syncAsync(): Promise<void> {
    if (failpointsEnabled()) await failpointAsync('wal-before-fsync');
    try {
      await fdatasyncAsync(this.#fs, this.#fd);
    } catch (error) {
      throw ioError(this.#currentName(), 'fdatasync', error);
    }
    this.#dirty = false;
    if (failpointsEnabled()) await failpointAsync('wal-after-fsync');
  }

  async #guardAsync(step: () => Promise<void>): Promise<void> {
    try {
      await step();
    } catch (error) {
      this.#failure = error;
      throw error;
    }
  }

  /** `records` behind the deferred hard state, if one waits (taken: it goes with this write). */
  #withDeferred(records: LogRecord[]): LogRecord[] {
    const deferred = this.#deferred;
    if (deferred === undefined) return records;
    this.#deferred = undefined;
    records.unshift(deferred);
    return records;
  }

  /** Appends one batch; with `sync`, returns once it is on stable storage. */
  append(appended: readonly LogRecord[], sync: boolean, lastIndex: number): void {
    this.#checkUsable();
    if (this.busy) throw new StorageUsageError('a synchronous append while async appends are outstanding');
    const records = this.#withDeferred([...appended]);
    if (records.length === 0) {
      if (sync && this.#dirty) this.#guard(() => this.#sync());
      return;
    }
    const offsets: number[] = [];
    let bytes = encodeBatch(records, this.#salt, this.#batch + 1, offsets);
    if (this.#position + bytes.length > this.#fileSizeBytes && this.#hasRecords()) {
      this.#rotate();
      offsets.length = 0;
      bytes = encodeBatch(records, this.#salt, this.#batch + 1, offsets); // the new segment has its own salt
    }
    const start = this.#position;
    this.#guard(() => {
      failpoint('wal-before-write');
      this.#write(bytes);
      failpoint('wal-after-write');
      if (sync) this.#sync();
    });
    this.#batch++;
    this.#noteWritten(records, offsets, start);
    this.#lastIndex = lastIndex;
    this.#acceptedLastIndex = lastIndex;
    for (const record of records) if (record.kind === 'hardState') this.#hardState = record.hardState;
  }

  /**
   * Deletes segments whose entries are all at or below `index`, oldest first
   * (a crash part-way leaves a contiguous suffix). The current segment stays.
   */
  releaseTo(index: number): void {
    this.#checkUsable();
    if (this.#releasesPending > 0) throw new StorageUsageError('releaseTo while a releaseToAsync is running: the deletions would not stay oldest first');
    let released = 0;
    while (this.#segments.length - released > 1 && this.#segments[released + 1]!.firstIndex - 1 <= index) {
      this.#fs.unlinkSync(join(this.#dir, this.#segments[released]!.name));
      released++;
    }
    this.#locations.releaseThrough(index);
    if (released === 0) return;
    this.#closeReaderOf(this.#segments.slice(0, released));
    this.#segments = this.#segments.slice(released);
    fsyncDirectory(this.#fs, this.#dir);
  }

  /**
   * {@link releaseTo} off the event loop: the segments to delete are chosen
   * and dropped from the log's list now (the writer only ever appends to the
   * newest segment, which is never among them, so appends and rotations may
   * run meanwhile), then unlinked oldest first and the directory synced,
   * after any release still running. Deleting a written 64 MiB segment and
   * syncing the directory took 10-23 ms here (`npx tsx bench/wal.ts`, ext4,
   * load 6-9), on the loop, on every member at about the same index; a
   * release after a long snapshot interval deletes several at once. A
   * failure leaves the undeleted segments a contiguous prefix (later
   * releases in the chain skip) and fails the log, as a failed write does:
   * recovery then finds every segment it needs.
   */
  releaseToAsync(index: number): Promise<void> {
    this.#checkUsable();
    let released = 0;
    while (this.#segments.length - released > 1 && this.#segments[released + 1]!.firstIndex - 1 <= index) released++;
    this.#locations.releaseThrough(index);
    if (released === 0) return this.#releasing;
    this.#closeReaderOf(this.#segments.slice(0, released));
    const doomed = this.#segments.slice(0, released).map((segment) => join(this.#dir, segment.name));
    this.#segments = this.#segments.slice(released);
    this.#releasesPending++;
    const run = this.#releasing.then(async () => {
      if (this.#failure !== undefined) throw new StorageFailedError(this.#failure);
      try {
        for (const path of doomed) await offLoop.unlink(this.#fs, path);
        await offLoop.fsyncDirectory(this.#fs, this.#dir);
      } catch (error) {
        this.#failure ??= error;
        throw ioError(this.#dir, 'release segments', error);
      }
    });
    const settled = run.then(
      () => void this.#releasesPending--,
      () => void this.#releasesPending--,
    );
    this.#releasing = settled;
    return run;
  }

  /** Resolves once every release started by {@link releaseToAsync} has finished, failed or not. */
  releasesSettled(): Promise<void> {
    return this.#releasing;
  }

  /** Names of the segment files, oldest first (for tests and tools). */
  segmentNames(): string[] {
    return this.#segments.map((segment) => segment.name);
  }

  /**
   * Closes the log. Async appends still queued are rejected; a group being
   * written finishes first (its fd stays open until then).
   */
  close(): void {
    if (this.#fd < 0) return;
    if (this.#writing) {
      this.#closeRequested = true;
      const rest = this.#queue;
      this.#queue = [];
      for (const pending of rest) pending.reject(new StorageUsageError('the write-ahead log was closed'));
      return;
    }
    try {
      if (this.#failure === undefined) {
        // The deferred hard state is written now, so a clean stop keeps the commit index (and a restart applies up to it).
        if (this.#deferred !== undefined) this.append([], false, this.#lastIndex);
        if (this.#dirty) this.#sync();
      }
    } finally {
      this.#deferred = undefined;
      this.#fs.closeSync(this.#fd);
      this.#fd = -1;
      this.#discardSpare();
      this.#closeReader();
    }
  }

  /** True when {@link readEntry} can read entry `index` back (the file system reads ranges and the log holds it). */
  canReadEntry(index: number): boolean {
    return this.#fs.readSync !== undefined && this.#locations.get(index) !== undefined;
  }

  /**
   * Reads entry `index` back as it was last written, from its record in its
   * segment (the page cache, most often: it was written moments or minutes
   * ago), checked against both its checksums as recovery checks it. A
   * synchronous read on the caller's turn: one record, for the rare reader
   * (a follower catching up on entries a member let go of). Throws
   * {@link WalCorruptError} when the record does not check, and a usage
   * error when the log does not hold the index.
   */
  readEntry(index: number): Entry {
    const location = this.#locations.get(index);
    const fileSystem = this.#fs;
    if (location === undefined || fileSystem.readSync === undefined) throw new StorageUsageError(`entry ${index} cannot be read back from the log`);
    const { segment, offset, sizeBytes } = location;
    if (this.#reader?.name !== segment.name) {
      this.#closeReader();
      this.#reader = { name: segment.name, fd: fileSystem.openSync(join(this.#dir, segment.name), 'r') };
    }
    const bytes = Buffer.allocUnsafe(sizeBytes);
    let read = 0;
    try {
      while (read < sizeBytes) {
        const got = fileSystem.readSync(this.#reader.fd, bytes, read, sizeBytes - read, offset + read);
        if (got === 0) break;
        read += got;
      }
    } catch (error) {
      throw ioError(segment.name, 'read back', error);
    }
    if (read < sizeBytes) throw new WalCorruptError(segment.name, offset, `entry ${index} read back short: ${read} of ${sizeBytes} bytes`);
    const entry = decodeEntryRecord(bytes, segment.salt, segment.name, offset);
    if (entry.index !== index) throw new WalCorruptError(segment.name, offset, `entry read back holds index ${entry.index}, not ${index}`);
    return entry;
  }

  /** Records where a batch's entries went (`offsets` from encodeBatch, the batch written at `start` of the current segment). */
  #noteWritten(records: readonly LogRecord[], offsets: readonly number[], start: number): void {
    if (this.#current !== undefined) this.#noteLocations(this.#current, records, offsets, start);
  }

  /** Records where the entries among `records` are: `segment` at `base` plus each one's offset. */
  #noteLocations(segment: SegmentRef, records: readonly LogRecord[], offsets: readonly number[], base: number): void {
    records.forEach((record, position) => {
      if (record.kind === 'entry') {
        this.#locations.set(record.entry.index, { segment, offset: base + offsets[position]!, sizeBytes: recordSizeBytes(entryPayloadBytes(record.entry)) });
      } else if (record.kind === 'snapshotInstalled') {
        this.#locations.clear();
      }
    });
  }

  /** Closes the read-back file if it is one of `segments` (being released). */
  #closeReaderOf(segments: readonly Segment[]): void {
    const reader = this.#reader;
    if (reader !== undefined && segments.some((segment) => segment.name === reader.name)) this.#closeReader();
  }

  #closeReader(): void {
    const reader = this.#reader;
    if (reader === undefined) return;
    this.#reader = undefined;
    this.#fs.closeSync(reader.fd);
  }

  /** Recovery, as a generator so both opens share it: it yields each segment's file name and is sent back its bytes. */
  *#recover(initialFirstIndex: number): Generator<string, WalContents, Uint8Array> {
    this.#fs.mkdirSync(this.#dir);
    this.#removeTemporaryFiles();
    this.#segments = this.#listSegments();
    if (this.#segments.length === 0) {
      this.#createSegment(1, initialFirstIndex);
      return { records: [], coverageStart: initialFirstIndex, tornTail: undefined };
    }
    const records: LogRecord[] = [];
    let previous: { name: string; lastBatch: number } | undefined;
    let tornTail: WalContents['tornTail'];
    for (const [position, segment] of this.#segments.entries()) {
      const isLast = position === this.#segments.length - 1;
      const bytes = yield segment.name;
      const scan = scanSegment(bytes, segment.name, isLast);
      checkContinuity(segment, scan.header, previous);
      if (scan.header.hardState) records.push({ kind: 'hardState', hardState: scan.header.hardState });
      for (const record of scan.records) records.push(record);
      const ref: SegmentRef = { name: segment.name, salt: scan.salt };
      this.#noteLocations(ref, scan.records, scan.offsets, 0);
      previous = { name: segment.name, lastBatch: scan.lastBatch };
      if (isLast) {
        this.#openForAppend(segment, bytes.length, scan.endOffset, scan.tornAt !== undefined);
        this.#salt = encodeSegmentHeader(scan.header).salt;
        this.#current = ref;
        this.#batch = scan.lastBatch;
        this.#segmentStartBatch = scan.header.previousBatch;
        if (scan.tornAt !== undefined) tornTail = { file: segment.name, offset: scan.tornAt };
      }
    }
    return { records, coverageStart: this.#segments[0]!.firstIndex, tornTail };
  }

  #listSegments(): Segment[] {
    const segments: Segment[] = [];
    for (const name of this.#fs.readdirSync(this.#dir)) {
      const parsed = parseSegmentFileName(name);
      if (parsed) segments.push({ ...parsed, name });
    }
    if (segments.length > SEGMENTS_MAX) throw new WalCorruptError(this.#dir, 0, `${segments.length} segments exceed ${SEGMENTS_MAX}`);
    segments.sort((a, b) => a.sequence - b.sequence);
    for (let i = 1; i < segments.length; i++) {
      if (segments[i]!.sequence !== segments[i - 1]!.sequence + 1) {
        throw new WalCorruptError(segments[i]!.name, 0, `segment sequence jumps from ${segments[i - 1]!.sequence}: a segment is missing`);
      }
    }
    return segments;
  }

  #removeTemporaryFiles(): void {
    for (const name of this.#fs.readdirSync(this.#dir)) if (name.endsWith('.tmp')) this.#fs.unlinkSync(join(this.#dir, name));
  }

  /** Opens the last segment for appending; a torn tail is zeroed (and that made durable) first. */
  #openForAppend(segment: Segment, fileSizeBytes: number, endOffset: number, torn: boolean): void {
    this.#fd = this.#fs.openSync(join(this.#dir, segment.name), 'r+');
    this.#position = endOffset;
    this.#fileSizeBytes = Math.max(fileSizeBytes, this.#segmentSizeBytes);
    if (torn || fileSizeBytes < this.#segmentSizeBytes) {
      // Cut the garbage and grow back with zeros: left in place, it would
      // become "damage followed by valid records" once we append after it.
      this.#fs.ftruncateSync(this.#fd, endOffset);
      this.#fs.ftruncateSync(this.#fd, this.#fileSizeBytes);
      this.#fs.fdatasyncSync(this.#fd);
    }
  }

  #hasRecords(): boolean {
    return this.#batch > this.#segmentStartBatch;
  }

  #rotate(): void {
    failpoint('wal-before-rotate');
    if (this.#dirty) this.#guard(() => this.#sync());
    const previousFd = this.#fd;
    this.#createSegment(this.#segments[this.#segments.length - 1]!.sequence + 1, this.#lastIndex + 1);
    this.#fs.closeSync(previousFd);
    failpoint('wal-after-rotate');
  }

  /**
   * #rotate for the async writer, every step off the event loop. Creating a
   * segment writes and fdatasyncs all of it (64 MiB by default, every 64
   * puts of bench:scale's 1 MiB values), and every member rotates at the
   * same log index, so done on the loop it could hold all members' loops
   * at once for as long as the disk takes (issue 14). Appends queue
   * meanwhile, as behind any slow write; the writer runs one group at a
   * time, so nothing else touches the segment list's tail or the salt.
   */
  async #rotateAsync(): Promise<void> {
    await failpointAsync('wal-before-rotate');
    if (this.#dirty) await this.#guardAsync(() => this.#syncAsync());
    const previousFd = this.#fd;
    const sequence = this.#segments[this.#segments.length - 1]!.sequence + 1;
    const firstIndex = this.#lastIndex + 1;
    const name = segmentFileName(sequence, firstIndex);
    const temporary = join(this.#dir, `${name}.tmp`);
    const header = encodeSegmentHeader({ sequence, firstIndex, previousBatch: this.#batch, hardState: this.#hardState });
    const sizeBytes = Math.max(this.#segmentSizeBytes, header.bytes.length);
    const spare = await this.#takeSpare(sizeBytes);
    if (spare !== undefined && (await this.#headSpare(spare, header.bytes, name))) {
      this.#useSegment({ sequence, firstIndex, name }, spare.fd, header, sizeBytes);
      await offLoop.close(this.#fs, previousFd);
      if (this.#spareSegments) this.#spare = this.#prepareSpare();
      await failpointAsync('wal-after-rotate');
      return;
    }
    let fd = -1;
    try {
      fd = await offLoop.open(this.#fs, temporary, 'w+');
      await writeFullyAsync(this.#fs, fd, header.bytes, 0);
      await zeroFillAsync(this.#fs, fd, header.bytes.length, sizeBytes);
      await fdatasyncAsync(this.#fs, fd);
      await offLoop.rename(this.#fs, temporary, join(this.#dir, name));
      await offLoop.fsyncDirectory(this.#fs, this.#dir);
    } catch (error) {
      this.#discardTemporary(fd, temporary);
      throw ioError(temporary, 'create segment', error);
    }
    this.#useSegment({ sequence, firstIndex, name }, fd, header, sizeBytes);
    await offLoop.close(this.#fs, previousFd);
    if (this.#spareSegments) this.#spare = this.#prepareSpare();
    await failpointAsync('wal-after-rotate');
  }

  /**
   * Creates the next segment's file ahead of need, as etcd's WAL keeps one
   * preallocated file in its pipeline: zero-filled and synced under a
   * temporary name while the current segment takes writes, so a rotation
   * only writes the header over its start, syncs that and renames it. Made
   * at rotation, the zero fill and its fdatasync held the writer for
   * 100-200 ms every 64 MiB (every 64 puts of bench/scale's fill A), on all
   * members at the same log index. A temporary file is removed by recovery
   * (#removeTemporaryFiles), so a crash leaves nothing behind; a failure
   * here (a full disk) only means the rotation creates the file itself and
   * reports the error there, as before.
   */
  async #prepareSpare(): Promise<SpareSegment | undefined> {
    const path = join(this.#dir, `next-${++spareCount}.tmp`);
    let fd = -1;
    try {
      fd = await offLoop.open(this.#fs, path, 'w+');
      await zeroFillAsync(this.#fs, fd, 0, this.#segmentSizeBytes);
      await fdatasyncAsync(this.#fs, fd);
    } catch {
      this.#dropSpare(fd, path);
      return undefined;
    }
    if (this.#fd < 0) {
      this.#dropSpare(fd, path); // closed meanwhile
      return undefined;
    }
    return { fd, path, sizeBytes: this.#segmentSizeBytes };
  }

  /** The prepared spare if it is big enough (waiting for it if it is still being made). */
  async #takeSpare(sizeBytes: number): Promise<SpareSegment | undefined> {
    const spare = await this.#spare;
    this.#spare = undefined;
    if (spare === undefined) return undefined;
    if (spare.sizeBytes >= sizeBytes) return spare;
    this.#dropSpare(spare.fd, spare.path);
    return undefined;
  }

  /** Makes the spare segment `name`: header written and synced, then renamed into place. False (spare discarded) on any failure. */
  async #headSpare(spare: SpareSegment, header: Uint8Array, name: string): Promise<boolean> {
    try {
      await writeFullyAsync(this.#fs, spare.fd, header, 0);
      await fdatasyncAsync(this.#fs, spare.fd);
      await offLoop.rename(this.#fs, spare.path, join(this.#dir, name));
      await offLoop.fsyncDirectory(this.#fs, this.#dir);
      return true;
    } catch {
      // The rename may have happened: a file under the segment's name with a valid header and no records is what
      // the fallback's own rename replaces. Under the temporary name it is removed here or by recovery.
      this.#dropSpare(spare.fd, spare.path);
      return false;
    }
  }

  /** Closes and removes a spare that is ready; one still being made removes itself (it finds the log closed). */
  #discardSpare(): void {
    const spare = this.#spare;
    this.#spare = undefined;
    void spare?.then((ready) => {
      if (ready !== undefined) this.#dropSpare(ready.fd, ready.path);
    });
  }

  /** Closes and removes a spare's file, ignoring failures: a spare is an optimisation, and recovery removes what is left. */
  #dropSpare(fd: number, path: string): void {
    try {
      this.#discardTemporary(fd, path);
    } catch {
      // nothing to do: see above
    }
  }

  /**
   * Creates a segment under a temporary name, zero-fills it to its full size
   * (so later fdatasyncs need not update block allocation, and a full disk
   * shows up here rather than in the middle of a Ready), makes it durable,
   * then renames it into place. A failure leaves the log as it was.
   */
  #createSegment(sequence: number, firstIndex: number): void {
    const name = segmentFileName(sequence, firstIndex);
    const temporary = join(this.#dir, `${name}.tmp`);
    const { bytes, salt } = encodeSegmentHeader({ sequence, firstIndex, previousBatch: this.#batch, hardState: this.#hardState });
    const sizeBytes = Math.max(this.#segmentSizeBytes, bytes.length);
    let fd = -1;
    try {
      fd = this.#fs.openSync(temporary, 'w+');
      writeFully(this.#fs, fd, bytes, 0);
      zeroFill(this.#fs, fd, bytes.length, sizeBytes);
      this.#fs.fdatasyncSync(fd);
      this.#fs.renameSync(temporary, join(this.#dir, name));
      fsyncDirectory(this.#fs, this.#dir);
    } catch (error) {
      this.#discardTemporary(fd, temporary);
      throw ioError(temporary, 'create segment', error);
    }
    this.#useSegment({ sequence, firstIndex, name }, fd, { bytes, salt }, sizeBytes);
  }

  /** A segment that could not be made: the log stays as it was. */
  #discardTemporary(fd: number, temporary: string): void {
    if (fd >= 0) this.#fs.closeSync(fd);
    if (this.#fs.existsSync(temporary)) this.#fs.unlinkSync(temporary);
  }

  /** Appends go to the new, durable segment `fd` from here on. */
  #useSegment(segment: Segment, fd: number, header: { bytes: Uint8Array; salt: number }, sizeBytes: number): void {
    this.#fd = fd;
    this.#salt = header.salt;
    this.#current = { name: segment.name, salt: header.salt };
    this.#position = header.bytes.length;
    this.#fileSizeBytes = sizeBytes;
    this.#segmentStartBatch = this.#batch;
    this.#segments.push(segment);
  }

  #write(bytes: Uint8Array): void {
    try {
      writeFully(this.#fs, this.#fd, bytes, this.#position);
    } catch (error) {
      this.#undoPartialWrite();
      throw ioError(this.#currentName(), 'write', error);
    }
    this.#position += bytes.length;
    this.#fileSizeBytes = Math.max(this.#fileSizeBytes, this.#position);
    this.#dirty = true;
  }

  /** Best effort: zero what a failed write may have left, so the tail reads as clean. Shrinking needs no space. */
  #undoPartialWrite(): void {
    try {
      this.#fs.ftruncateSync(this.#fd, this.#position);
      this.#fs.ftruncateSync(this.#fd, this.#fileSizeBytes);
    } catch {
      // Recovery treats whatever is left as a torn tail.
    }
  }

  #sync(): void {
    failpoint('wal-before-fsync');
    try {
      this.#fs.fdatasyncSync(this.#fd);
    } catch (error) {
      throw ioError(this.#currentName(), 'fdatasync', error);
    }
    this.#dirty = false;
    failpoint('wal-after-fsync');
  }

  /** Runs a write step; any failure poisons the log (see StorageFailedError). */
  #guard(step: () => void): void {
    try {
      step();
    } catch (error) {
      this.#failure = error;
      throw error;
    }
  }

  #checkUsable(): void {
    if (this.#failure !== undefined) throw new StorageFailedError(this.#failure);
    if (this.#fd < 0) throw new StorageUsageError('the write-ahead log is closed');
  }

  #currentName(): string {
    return join(this.#dir, this.#segments[this.#segments.length - 1]!.name);
  }
}

function checkContinuity(segment: Segment, header: { sequence: number; firstIndex: number; previousBatch: number }, previous: { name: string; lastBatch: number } | undefined): void {
  if (header.sequence !== segment.sequence || header.firstIndex !== segment.firstIndex) {
    throw new WalCorruptError(segment.name, 0, `header says sequence ${header.sequence}, first index ${header.firstIndex}: not this file's name`);
  }
  if (previous !== undefined && header.previousBatch !== previous.lastBatch) {
    throw new WalCorruptError(segment.name, 0, `follows batch ${header.previousBatch} but ${previous.name} ends with batch ${previous.lastBatch}`);
  }
}

/** A zero-filled, synced file under a temporary name, waiting to become the next segment. */
interface SpareSegment {
  readonly fd: number;
  readonly path: string;
  readonly sizeBytes: number;
}

/** Names each spare apart, so a spare still being made by a closed log never shares a name with a reopened log's. */
let spareCount = 0;

async function zeroFillAsync(fileSystem: FileSystem, fd: number, from: number, to: number): Promise<void> {
  const zeros = new Uint8Array(Math.min(ZERO_FILL_CHUNK_BYTES, Math.max(0, to - from)));
  for (let position = from; position < to; position += zeros.length) {
    await writeFullyAsync(fileSystem, fd, zeros.subarray(0, Math.min(zeros.length, to - position)), position);
  }
}

function zeroFill(fileSystem: FileSystem, fd: number, from: number, to: number): void {
  const zeros = new Uint8Array(Math.min(ZERO_FILL_CHUNK_BYTES, Math.max(0, to - from)));
  for (let position = from; position < to; position += zeros.length) {
    writeFully(fileSystem, fd, zeros.subarray(0, Math.min(zeros.length, to - position)), position);
  }
}
