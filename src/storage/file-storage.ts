import { join } from 'node:path';
import type { EntrySource } from '../raft/storage.js';
import type { Snapshot, SnapshotMetadata } from '../raft/types.js';
import { SnapshotAbortedError, SnapshotCorruptError, StorageUsageError, WalCorruptError } from './errors.js';
import { failpoint, failpointAsync } from './failpoints.js';
import { type FileSystem, nodeFileSystem } from './file-system.js';
import { INSTALL_CHUNK_BYTES, RETAIN_SNAPSHOTS_DEFAULT, SEGMENT_SIZE_BYTES_DEFAULT, SEGMENT_SIZE_BYTES_MIN, SNAPSHOT_INTERVAL_ENTRIES_DEFAULT } from './limits.js';
import type { PersistBatch, RaftStorage, RecoveredState, SnapshotRetention } from './raft-storage.js';
import { batchRecords, checkBatch, EMPTY_SNAPSHOT, type LogRecord, reconcileHardState, replay, type ReplayResult, snapshotDue } from './replay.js';
import { crc32c } from './crc32c.js';
import { encodeSnapshotFileHeader, type SnapshotFile, SnapshotFiles } from './snapshot-files.js';
import { checkSnapshotFile, FileSnapshotSource, readSnapshotData, readsRanges } from './snapshot-source.js';
import { readSnapshotFile, SnapshotFileWriter } from './snapshot-writer.js';
import { Wal, type WalContents } from './wal.js';

export interface FileStorageOptions extends SnapshotRetention {
  /** Preallocated size of each WAL segment. */
  readonly segmentSizeBytes?: number;
  /** Injected file operations (tests); real `node:fs` by default. */
  readonly fileSystem?: FileSystem;
}

/**
 * Where a streamed snapshot's data comes from: the next chunk, or undefined
 * after the last. A chunk is written (and checksummed) before the next call,
 * so the source may reuse its buffer then.
 */
export interface SnapshotChunks {
  next(): Uint8Array | undefined;
}

/** What recovery had to do, for logs and tests. */
export interface RecoveryReport {
  /** A torn tail was cut off the last segment here. */
  readonly tornTail: { readonly file: string; readonly offset: number } | undefined;
  /** Snapshot files passed over, newest first, each with why. */
  readonly snapshotsSkipped: readonly string[];
}

/**
 * The durable {@link RaftStorage}: `<dir>/wal/*.wal` segments and
 * `<dir>/snap/*.snap` snapshots, through real `fdatasync`/`fsync`.
 */
export class FileStorage implements RaftStorage {
  readonly #dir: string;
  readonly #fs: FileSystem;
  readonly #segmentSizeBytes: number;
  readonly #retainSnapshots: number;
  /** The tail of the releases running off the loop ({@link releaseToAsync}); settles, never rejects. */
  #releasing: Promise<void> = Promise.resolve();
  readonly #snapshotIntervalEntries: number;
  readonly #snapshots: SnapshotFiles;
  #wal: Wal | undefined;
  #newestSnapshotIndex = 0;
  /** The leader's snapshot installed last, until {@link held} hands it over. */
  #installed: Snapshot | undefined;
  #streaming = false;
  #loadStarted = false;
  #report: RecoveryReport | undefined;

  constructor(dir: string, options: FileStorageOptions = {}) {
    this.#dir = dir;
    this.#fs = options.fileSystem ?? nodeFileSystem;
    this.#segmentSizeBytes = options.segmentSizeBytes ?? SEGMENT_SIZE_BYTES_DEFAULT;
    this.#retainSnapshots = options.retainSnapshots ?? RETAIN_SNAPSHOTS_DEFAULT;
    this.#snapshotIntervalEntries = options.snapshotIntervalEntries ?? SNAPSHOT_INTERVAL_ENTRIES_DEFAULT;
    if (this.#segmentSizeBytes < SEGMENT_SIZE_BYTES_MIN) throw new StorageUsageError(`segmentSizeBytes below ${SEGMENT_SIZE_BYTES_MIN}`);
    if (!(this.#retainSnapshots >= 1)) throw new StorageUsageError('retainSnapshots must be at least 1');
    if (!(this.#snapshotIntervalEntries >= 1)) throw new StorageUsageError('snapshotIntervalEntries must be at least 1');
    this.#snapshots = new SnapshotFiles(join(dir, 'snap'), this.#fs);
  }

  /** What the last `load()` had to repair or skip. */
  get recoveryReport(): RecoveryReport | undefined {
    return this.#report;
  }

  /** WAL segment file names, oldest first. */
  segmentNames(): string[] {
    return this.#opened().segmentNames();
  }

  /**
   * Recovers the durable state (see {@link RaftStorage.load}). Synchronous:
   * the WAL segments and the snapshot file are read whole on the caller's
   * turn; tests and tools use it. A member starts with {@link loadAsync}.
   */
  load(): RecoveredState {
    const { walDir, snapshotFiles } = this.#prepareLoad();
    const recovery = this.#choose(Wal.open(walDir, this.#walOptions(), 1), snapshotFiles);
    let step = recovery.choice.next();
    while (!step.done) step = recovery.choice.next(this.#snapshots.load(step.value));
    return this.#finishLoad(recovery, step.value);
  }

  /**
   * {@link load} without holding the event loop for the reads: each WAL
   * segment (`Wal.openAsync`) and each candidate snapshot file
   * (`SnapshotFiles.loadAsync`, checksummed a chunk per turn) is read in
   * chunks off the loop. Same recovery, same choice of snapshot and
   * fallback to an older one, same errors: both drive the one
   * `Wal#recover` and the one {@link chooseSnapshot}. Each segment's scan
   * still runs in one piece on the loop.
   */
  async loadAsync(): Promise<RecoveredState> {
    const { walDir, snapshotFiles } = this.#prepareLoad();
    const recovery = this.#choose(await Wal.openAsync(walDir, this.#walOptions(), 1), snapshotFiles);
    let step = recovery.choice.next();
    const fileSystem = this.#fs;
    const dir = this.#snapshots.dir;
    // Checked without keeping the data where the file system reads ranges (the real one): the snapshot then reads its file on demand.
    const check = readsRanges(fileSystem) ? (file: SnapshotFile) => checkSnapshotFile(fileSystem, dir, file) : (file: SnapshotFile) => this.#snapshots.loadAsync(file);
    while (!step.done) step = recovery.choice.next(await check(step.value));
    return this.#finishLoad(recovery, step.value);
  }

  #prepareLoad(): { walDir: string; snapshotFiles: SnapshotFile[] } {
    // Set before loadAsync's first await: a second load of either kind is refused, even while the first one reads.
    if (this.#loadStarted) throw new StorageUsageError('load() was already called');
    this.#loadStarted = true;
    this.#fs.mkdirSync(this.#dir);
    this.#snapshots.prepare();
    const walDir = join(this.#dir, 'wal');
    const snapshotFiles = this.#snapshots.list();
    if (snapshotFiles.length > 0 && !this.#hasSegments(walDir)) {
      throw new WalCorruptError(walDir, 0, 'snapshots exist but the write-ahead log has no segments');
    }
    return { walDir, snapshotFiles };
  }

  #walOptions(): { fileSystem: FileSystem; segmentSizeBytes: number } {
    return { fileSystem: this.#fs, segmentSizeBytes: this.#segmentSizeBytes };
  }

  #choose({ wal, contents }: { wal: Wal; contents: WalContents }, snapshotFiles: readonly SnapshotFile[]): { wal: Wal; contents: WalContents; choice: Generator<SnapshotFile, SnapshotChoice, Snapshot | string> } {
    // Owned from here so close() releases it even when no snapshot fits (the choice throws).
    this.#wal = wal;
    return { wal, contents, choice: chooseSnapshot(this.#dir, snapshotFiles, contents.records, contents.coverageStart) };
  }

  #finishLoad({ wal, contents }: { wal: Wal; contents: WalContents }, { snapshot, result, skipped }: SnapshotChoice): RecoveredState {
    const hardState = reconcileHardState(result.hardState, snapshot);
    wal.setRecoveredState(result.lastIndex, hardState);
    this.#newestSnapshotIndex = snapshot.metadata.index;
    this.#report = { tornTail: contents.tornTail, snapshotsSkipped: skipped };
    return { hardState, snapshot, entries: result.entries };
  }

  save(batch: PersistBatch, mustSync: boolean): void {
    const wal = this.#opened();
    const lastIndex = checkBatch(batch, wal.lastIndex);
    if (batch.snapshot) {
      failpoint('snapshot-before-install');
      this.#snapshots.save(batch.snapshot);
      this.#newestSnapshotIndex = Math.max(this.#newestSnapshotIndex, batch.snapshot.metadata.index);
    }
    wal.append(batchRecords(batch), mustSync || batch.snapshot !== undefined, lastIndex);
    if (batch.snapshot) failpoint('snapshot-after-install');
  }

  saveAsync(batch: PersistBatch, mustSync: boolean): Promise<void> {
    const wal = this.#opened();
    if (batch.snapshot) {
      if (wal.busy) throw new StorageUsageError('a snapshot save while async saves are outstanding');
      return this.#saveInstalled(batch, batch.snapshot);
    }
    const lastIndex = checkBatch(batch, wal.lastIndex);
    return wal.appendAsync(batchRecords(batch), mustSync, lastIndex);
  }

  /**
   * A snapshot from the leader, as {@link save} writes it (the file first,
   * made durable and renamed into place, then the WAL's snapshot record and
   * hard state, synced; the same failpoints around it) but off the event
   * loop: the file through a {@link SnapshotFileWriter}, in chunks of
   * INSTALL_CHUNK_BYTES, and the WAL records through its async writer. A
   * crash before the rename leaves the older snapshot and log; between the
   * rename and the WAL sync, a newer snapshot file the log does not name yet,
   * which recovery accepts when the log continues it and otherwise passes
   * over (replay.ts), as after a crash inside {@link save}.
   */
  async #saveInstalled(batch: PersistBatch, snapshot: Snapshot): Promise<void> {
    const wal = this.#opened();
    const lastIndex = checkBatch(batch, wal.lastIndex);
    failpoint('snapshot-before-install');
    const writer = await SnapshotFileWriter.open(this.#fs, this.#snapshots.dir, snapshot.metadata);
    const data = await readSnapshotData(snapshot.data); // from a leader: the bytes it streamed, in memory already
    for (let offset = 0; offset < data.length; offset += INSTALL_CHUNK_BYTES) await writer.append(data.subarray(offset, Math.min(offset + INSTALL_CHUNK_BYTES, data.length)));
    const { file, checksum } = await writer.commit();
    this.#newestSnapshotIndex = Math.max(this.#newestSnapshotIndex, snapshot.metadata.index);
    this.#installed = this.#inFile(snapshot.metadata, file, data.length, checksum);
    await wal.appendAsync(batchRecords(batch), true, lastIndex);
    failpoint('snapshot-after-install');
  }

  /** The leader's snapshot {@link saveAsync} installed last, with its data left in the file (once: the caller holds it from then on). */
  held(snapshot: Snapshot): Snapshot {
    const installed = this.#installed;
    if (installed === undefined || installed.metadata.index !== snapshot.metadata.index || installed.metadata.term !== snapshot.metadata.term) return snapshot;
    this.#installed = undefined;
    return installed;
  }

  /** Entries read back from their WAL records (see Wal.readEntry). */
  entrySource(): EntrySource | undefined {
    const wal = this.#opened();
    if (this.#fs.readSync === undefined) return undefined;
    return { canRead: (index) => wal.canReadEntry(index), entry: (index) => wal.readEntry(index) };
  }

  /** A snapshot file just written, as a snapshot whose data is read from it on demand (undefined where the file system cannot read ranges). */
  #inFile(metadata: SnapshotMetadata, file: SnapshotFile, dataLength: number, checksum: number): Snapshot | undefined {
    const fileSystem = this.#fs;
    if (!readsRanges(fileSystem)) return undefined;
    const header = encodeSnapshotFileHeader(metadata, dataLength);
    const layout = { path: join(this.#snapshots.dir, file.name), dataOffset: header.length, dataLength, headerChecksum: crc32c(header), checksum };
    return { metadata, data: new FileSnapshotSource(fileSystem, layout) };
  }

  saveSnapshot(snapshot: Snapshot): void {
    const wal = this.#opened();
    const { index } = snapshot.metadata;
    if (index > wal.lastIndex) throw new StorageUsageError(`snapshot at ${index} is beyond the last index ${wal.lastIndex}`);
    if (index < this.#newestSnapshotIndex) throw new StorageUsageError(`snapshot at ${index} is older than the one at ${this.#newestSnapshotIndex}`);
    this.#snapshots.save(snapshot);
    this.#newestSnapshotIndex = index;
  }

  /**
   * {@link saveSnapshot} without blocking the event loop: the data comes
   * from `chunks`, one chunk at a time, each written off the loop before the
   * next is asked for (so the caller's encoding runs in pieces between
   * other events), through a {@link SnapshotFileWriter} (same file, same
   * crash safety). Once durable it is returned with its data left in the
   * file (snapshot-source.ts: read on demand, checked as it is read), which
   * is what the raft core sends to a follower that needs a snapshot; a file
   * system that cannot read ranges gets the file read back whole instead
   * (checked against the checksum written). When `signal` aborts, the
   * temporary file is removed and this rejects with
   * `KEEL_STORAGE_SNAPSHOT_ABORTED` (unless the file was already renamed
   * into place: then it completes). One at a time; the log may grow
   * meanwhile, and another snapshot (a leader's) may be installed
   * meanwhile: the newest index is never lowered.
   */
  async saveSnapshotStreamed(metadata: SnapshotMetadata, chunks: SnapshotChunks, signal?: AbortSignal): Promise<Snapshot> {
    const wal = this.#opened();
    if (this.#streaming) throw new StorageUsageError('a streamed snapshot is already being saved');
    if (metadata.index > wal.lastIndex) throw new StorageUsageError(`snapshot at ${metadata.index} is beyond the last index ${wal.lastIndex}`);
    if (metadata.index < this.#newestSnapshotIndex) throw new StorageUsageError(`snapshot at ${metadata.index} is older than the one at ${this.#newestSnapshotIndex}`);
    this.#streaming = true;
    try {
      const writer = await SnapshotFileWriter.open(this.#fs, this.#snapshots.dir, metadata);
      for (let chunk = chunks.next(); chunk !== undefined; chunk = chunks.next()) {
        if (signal?.aborted) {
          await writer.abort();
          throw new SnapshotAbortedError(writer.file.name);
        }
        await writer.append(chunk);
      }
      const dataLength = writer.dataLength;
      const { file, checksum } = await writer.commit();
      this.#newestSnapshotIndex = Math.max(this.#newestSnapshotIndex, metadata.index);
      return this.#inFile(metadata, file, dataLength, checksum) ?? (await readSnapshotFile(this.#fs, this.#snapshots.dir, file, checksum));
    } finally {
      this.#streaming = false;
    }
  }

  releaseTo(index: number): void {
    const wal = this.#opened();
    failpoint('compaction-before');
    const files = this.#snapshots.list();
    const oldestRetained = files[Math.min(this.#retainSnapshots, files.length) - 1];
    if (oldestRetained === undefined) return;
    wal.releaseTo(Math.min(index, oldestRetained.index));
    failpoint('compaction-between');
    this.#snapshots.remove(files.slice(this.#retainSnapshots));
    failpoint('compaction-after');
  }

  /**
   * {@link releaseTo} off the event loop (the member's path): the same steps
   * and failpoints, with the segments and snapshot files unlinked and their
   * directories synced by libuv's threads. Releases run one after another, in
   * call order; appends may run meanwhile (the log never releases the
   * segment it writes to). A failure rejects and fails the log.
   */
  releaseToAsync(index: number): Promise<void> {
    const wal = this.#opened();
    const run = this.#releasing.then(async () => {
      await failpointAsync('compaction-before');
      const files = this.#snapshots.list();
      const oldestRetained = files[Math.min(this.#retainSnapshots, files.length) - 1];
      if (oldestRetained === undefined) return;
      await wal.releaseToAsync(Math.min(index, oldestRetained.index));
      await failpointAsync('compaction-between');
      await this.#snapshots.removeAsync(files.slice(this.#retainSnapshots));
      await failpointAsync('compaction-after');
    });
    this.#releasing = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  snapshotDue(appliedIndex: number): boolean {
    return snapshotDue(appliedIndex, this.#newestSnapshotIndex, this.#snapshotIntervalEntries);
  }

  close(): void {
    this.#wal?.close();
  }

  #hasSegments(walDir: string): boolean {
    return this.#fs.existsSync(walDir) && this.#fs.readdirSync(walDir).some((name) => name.endsWith('.wal'));
  }

  #opened(): Wal {
    if (!this.#wal) throw new StorageUsageError('call load() first');
    return this.#wal;
  }
}

interface SnapshotChoice {
  readonly snapshot: Snapshot;
  readonly result: ReplayResult;
  readonly skipped: string[];
}

/**
 * The newest snapshot the log continues, falling back to older ones (and
 * finally to none) when a file is damaged. Refuses when nothing fits.
 * `files` newest first. A generator so that the one rule serves both loads:
 * it yields each file it wants and is sent back the file read and checked
 * (`SnapshotFiles.load` or `loadAsync`), or why it is unusable; it asks for
 * the next only when one is refused, so at most one snapshot is in memory.
 */
function* chooseSnapshot(dir: string, files: readonly SnapshotFile[], records: readonly LogRecord[], coverageStart: number): Generator<SnapshotFile, SnapshotChoice, Snapshot | string> {
  const skipped: string[] = [];
  let damaged: string | undefined;
  for (const file of files) {
    const loaded = yield file;
    const outcome = typeof loaded === 'string' ? undefined : replay(records, coverageStart, loaded.metadata);
    if (typeof loaded !== 'string' && outcome?.ok) return { snapshot: loaded, result: outcome.result, skipped };
    const reason = typeof loaded === 'string' ? loaded : (outcome as { reason: string }).reason;
    if (typeof loaded === 'string') damaged ??= file.name;
    skipped.push(`${file.name}: ${reason}`);
  }
  const outcome = replay(records, coverageStart, EMPTY_SNAPSHOT.metadata);
  if (outcome.ok) return { snapshot: EMPTY_SNAPSHOT, result: outcome.result, skipped };
  if (damaged !== undefined) {
    throw new SnapshotCorruptError(join(dir, 'snap', damaged), `${skipped.join('; ')}; and the log does not reach back to an older one (${outcome.reason})`);
  }
  throw new WalCorruptError(join(dir, 'wal'), 0, `no snapshot fits the log: ${[...skipped, outcome.reason].join('; ')}`);
}
