import { join } from 'node:path';
import type { Snapshot, SnapshotMetadata } from '../raft/types.js';
import { crc32c, crc32cCombine } from './crc32c.js';
import { SnapshotCorruptError, StorageUsageError } from './errors.js';
import { failpoint, failpointAsync } from './failpoints.js';
import { type FileSystem, fdatasyncAsync, ioError, offLoop, writeFullyAsync } from './file-system.js';
import { SNAPSHOT_SIZE_BYTES_MAX, SNAPSHOT_SYNC_EVERY_BYTES } from './limits.js';
import { type CheckedBytes, readSnapshotBytes } from './chunked-read.js';
import { decodeSnapshotFile, encodeSnapshotFileHeader, type SnapshotFile, snapshotFileFor, storedChecksum } from './snapshot-files.js';

/**
 * A snapshot file written piece by piece, every file operation off the event
 * loop, in the same format and with the same crash safety as
 * `SnapshotFiles.save`:
 *
 *     open <name>.tmp; write the data chunks after room for the header
 *     (fdatasync every SNAPSHOT_SYNC_EVERY_BYTES, so no one flush is large);
 *     write the header (now that the data length is known) and the trailer;
 *     fsync; close; rename to <name>; fsync the directory
 *
 * Until the rename the snapshot does not exist (`SnapshotFiles.list` sees
 * only `.snap` names, and `prepare()` deletes a `.tmp` a crash left); after
 * the directory fsync it is durable whole. The checksum covers the header
 * first, so it is the header's CRC combined with the data's, which is
 * computed chunk by chunk as the data goes out.
 *
 * Calls must not overlap (each awaits the previous one); after `commit()`
 * or `abort()` nothing else may be called.
 */
export class SnapshotFileWriter {
  readonly #fs: FileSystem;
  readonly #dir: string;
  readonly #metadata: SnapshotMetadata;
  readonly #file: SnapshotFile;
  readonly #temporary: string;
  readonly #headerLength: number;
  #fd: number;
  #dataLength = 0;
  #dataChecksum = 0;
  /** Data bytes written since the last fdatasync. */
  #unsyncedBytes = 0;
  #finished = false;

  private constructor(fileSystem: FileSystem, dir: string, metadata: SnapshotMetadata, fd: number) {
    this.#fs = fileSystem;
    this.#dir = dir;
    this.#metadata = metadata;
    this.#file = snapshotFileFor(metadata);
    this.#temporary = join(dir, `${this.#file.name}.tmp`);
    this.#headerLength = encodeSnapshotFileHeader(metadata, 0).length;
    this.#fd = fd;
  }

  /** Creates `<dir>/<name>.tmp` for a snapshot with `metadata` (replacing a leftover one). */
  static async open(fileSystem: FileSystem, dir: string, metadata: SnapshotMetadata): Promise<SnapshotFileWriter> {
    failpoint('snapshot-before-save');
    const temporary = join(dir, `${snapshotFileFor(metadata).name}.tmp`);
    let fd: number;
    try {
      fd = await offLoop.open(fileSystem, temporary, 'w');
    } catch (error) {
      throw ioError(temporary, 'open snapshot', error);
    }
    return new SnapshotFileWriter(fileSystem, dir, metadata, fd);
  }

  get file(): SnapshotFile {
    return this.#file;
  }

  /** Data bytes written so far. */
  get dataLength(): number {
    return this.#dataLength;
  }

  /** Appends `chunk` to the snapshot's data. On failure the temporary file is removed and the error is typed. */
  async append(chunk: Uint8Array): Promise<void> {
    this.#checkOpen();
    if (this.#dataLength + chunk.length > SNAPSHOT_SIZE_BYTES_MAX) {
      await this.abort();
      throw new StorageUsageError(`snapshot data beyond ${SNAPSHOT_SIZE_BYTES_MAX} bytes`);
    }
    await this.#guard('write snapshot', () => writeFullyAsync(this.#fs, this.#fd, chunk, this.#headerLength + this.#dataLength));
    this.#dataChecksum = crc32c(chunk, this.#dataChecksum);
    this.#dataLength += chunk.length;
    this.#unsyncedBytes += chunk.length;
    if (this.#unsyncedBytes >= SNAPSHOT_SYNC_EVERY_BYTES) {
      this.#unsyncedBytes = 0;
      await this.#guard('sync snapshot', () => fdatasyncAsync(this.#fs, this.#fd));
    }
    failpoint('snapshot-after-chunk');
  }

  /**
   * Writes the header and trailer, makes the file durable and renames it
   * into place. Resolves with the file and the checksum it holds.
   */
  async commit(): Promise<{ file: SnapshotFile; checksum: number }> {
    this.#checkOpen();
    const header = encodeSnapshotFileHeader(this.#metadata, this.#dataLength);
    if (header.length !== this.#headerLength) throw new StorageUsageError('snapshot header changed length');
    const checksum = crc32cCombine(crc32c(header), this.#dataChecksum, this.#dataLength);
    const trailer = new Uint8Array(4);
    new DataView(trailer.buffer).setUint32(0, checksum, true);
    await this.#guard('save snapshot', async () => {
      await writeFullyAsync(this.#fs, this.#fd, header, 0);
      await writeFullyAsync(this.#fs, this.#fd, trailer, this.#headerLength + this.#dataLength);
      await offLoop.fsync(this.#fs, this.#fd);
      const fd = this.#fd;
      this.#fd = -1;
      await offLoop.close(this.#fs, fd);
      await failpointAsync('snapshot-after-tmp-write');
      await offLoop.rename(this.#fs, this.#temporary, join(this.#dir, this.#file.name));
    });
    this.#finished = true;
    failpoint('snapshot-after-rename');
    try {
      await offLoop.fsyncDirectory(this.#fs, this.#dir);
    } catch (error) {
      throw ioError(this.#dir, 'fsync snapshot directory', error);
    }
    return { file: this.#file, checksum };
  }

  /** Closes and deletes the temporary file. Never throws; a second call does nothing. */
  async abort(): Promise<void> {
    if (this.#finished) return;
    this.#finished = true;
    const fd = this.#fd;
    this.#fd = -1;
    if (fd >= 0) await offLoop.close(this.#fs, fd).catch(() => undefined);
    await offLoop.unlink(this.#fs, this.#temporary).catch(() => undefined);
  }

  async #guard(operation: string, step: () => Promise<void>): Promise<void> {
    try {
      await step();
    } catch (error) {
      await this.abort();
      throw ioError(this.#temporary, operation, error);
    }
  }

  #checkOpen(): void {
    if (this.#finished) throw new StorageUsageError('the snapshot writer was committed or aborted');
  }
}

/**
 * Reads a snapshot file back off the event loop, in chunks, checking its
 * checksum a chunk per turn (chunked-read.ts, as a startup load does) against `expectedChecksum`, the
 * one {@link SnapshotFileWriter.commit} wrote: what was written is what is
 * read back. The data is a view of the one buffer read, not a copy.
 */
export async function readSnapshotFile(fileSystem: FileSystem, dir: string, file: SnapshotFile, expectedChecksum: number): Promise<Snapshot> {
  const path = join(dir, file.name);
  let read: CheckedBytes;
  try {
    read = await readSnapshotBytes(fileSystem, path);
  } catch (error) {
    throw ioError(path, 'read snapshot', error);
  }
  const { bytes, checksum } = read;
  if (bytes.length < 4) throw new SnapshotCorruptError(path, 'shorter than its checksum');
  if (checksum !== expectedChecksum || storedChecksum(bytes) !== expectedChecksum) throw new SnapshotCorruptError(path, 'read back other bytes than were written');
  const decoded = decodeSnapshotFile(bytes, file, checksum);
  if (typeof decoded === 'string') throw new SnapshotCorruptError(path, decoded);
  return decoded;
}
