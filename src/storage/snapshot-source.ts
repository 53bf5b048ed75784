/**
 * A snapshot's data left in its file: what a member holds for its newest
 * snapshot instead of the bytes. At the full quota a snapshot is as large as
 * the data (gigabytes): held in memory it added the data's size again to
 * every member's RSS, and twice while a new snapshot replaced the old one.
 * The raft core only carries it; the transport streams it to a follower
 * and a restore reads it, each through a reader of its own that checks the
 * file's checksum as the last byte goes by.
 */
import { join } from 'node:path';
import type { Snapshot, SnapshotData, SnapshotReader, SnapshotSource } from '../raft/types.js';
import { crc32c } from './crc32c.js';
import { SnapshotCorruptError, StorageUsageError } from './errors.js';
import { type FileSystem, ioError, offLoop } from './file-system.js';
import { SNAPSHOT_LOAD_CHUNK_BYTES } from './limits.js';
import { checkedSnapshotFileHeader, storedChecksum, type SnapshotFile } from './snapshot-files.js';

/** A file system that can read a range of a file off the event loop. */
export type RangeReadFileSystem = FileSystem & Required<Pick<FileSystem, 'read' | 'fileSize'>>;

/** True when `fileSystem` can serve a {@link FileSnapshotSource} (the real one can; some test doubles cannot). */
export function readsRanges(fileSystem: FileSystem): fileSystem is RangeReadFileSystem {
  return fileSystem.read !== undefined && fileSystem.fileSize !== undefined;
}

/** Where a snapshot's data lies in its file, and the checksum the whole file must have. */
export interface SnapshotFileLayout {
  readonly path: string;
  /** Bytes before the data (the header). */
  readonly dataOffset: number;
  readonly dataLength: number;
  /** CRC-32C of the header alone: the seed the data's bytes continue. */
  readonly headerChecksum: number;
  /** CRC-32C of header and data: what the trailer holds. */
  readonly checksum: number;
}

/** The data of a snapshot file, read on demand. */
export class FileSnapshotSource implements SnapshotSource {
  readonly #fs: RangeReadFileSystem;
  readonly #layout: SnapshotFileLayout;

  constructor(fileSystem: RangeReadFileSystem, layout: SnapshotFileLayout) {
    this.#fs = fileSystem;
    this.#layout = layout;
  }

  get length(): number {
    return this.#layout.dataLength;
  }

  get path(): string {
    return this.#layout.path;
  }

  /**
   * Opens the file for one pass. The descriptor is held until `close()`, so
   * the pass completes even if the file is deleted meanwhile (a newer
   * snapshot retired it).
   */
  async open(): Promise<SnapshotReader> {
    let fd: number;
    try {
      fd = await offLoop.open(this.#fs, this.#layout.path, 'r');
    } catch (error) {
      throw ioError(this.#layout.path, 'open snapshot', error);
    }
    return new FileSnapshotReader(this.#fs, fd, this.#layout);
  }

  /** All of the data in one buffer, read in chunks off the loop and checked (a restore decodes it whole). */
  async readAll(): Promise<Uint8Array> {
    const reader = (await this.open()) as FileSnapshotReader;
    try {
      const bytes = Buffer.allocUnsafe(this.length);
      await reader.readInto(bytes);
      return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length);
    } finally {
      await reader.close();
    }
  }
}

class FileSnapshotReader implements SnapshotReader {
  readonly #fs: RangeReadFileSystem;
  readonly #layout: SnapshotFileLayout;
  #fd: number;
  #offset = 0;
  #checksum: number;

  constructor(fileSystem: RangeReadFileSystem, fd: number, layout: SnapshotFileLayout) {
    this.#fs = fileSystem;
    this.#fd = fd;
    this.#layout = layout;
    this.#checksum = layout.headerChecksum;
  }

  async next(maxBytes: number): Promise<Uint8Array> {
    const length = Math.min(Math.max(1, maxBytes), this.#layout.dataLength - this.#offset);
    if (length <= 0) return new Uint8Array(0);
    const bytes = Buffer.allocUnsafe(length);
    await this.#fill(bytes, 0, length);
    return bytes;
  }

  /** Fills `bytes` (the data's length) from the current position to the end. */
  async readInto(bytes: Uint8Array): Promise<void> {
    // Bounded: every round reads at least one byte or throws.
    while (this.#offset < this.#layout.dataLength) {
      const at = this.#offset;
      await this.#fill(bytes, at, Math.min(SNAPSHOT_LOAD_CHUNK_BYTES, this.#layout.dataLength - at));
    }
  }

  async close(): Promise<void> {
    const fd = this.#fd;
    this.#fd = -1;
    if (fd >= 0) await offLoop.close(this.#fs, fd).catch(() => undefined);
  }

  /** Reads `length` data bytes into `bytes` at `at`, then sums them; at the last byte the sum must be the file's. */
  async #fill(bytes: Uint8Array, at: number, length: number): Promise<void> {
    const { path, dataOffset, dataLength, checksum } = this.#layout;
    if (this.#fd < 0) throw new StorageUsageError('the snapshot reader is closed');
    let done = 0;
    // Bounded by `length`: each read makes progress or the loop throws.
    while (done < length) {
      let read: number;
      try {
        read = await this.#fs.read(this.#fd, bytes, at + done, length - done, dataOffset + this.#offset + done);
      } catch (error) {
        throw ioError(path, 'read snapshot', error);
      }
      if (read <= 0) throw new SnapshotCorruptError(path, `the file ended at data byte ${this.#offset + done} of ${dataLength}`);
      done += read;
    }
    this.#checksum = crc32c(bytes, this.#checksum, at, at + length);
    this.#offset += length;
    if (this.#offset === dataLength && this.#checksum !== checksum) throw new SnapshotCorruptError(path, 'checksum mismatch (the file changed after it was checked)');
  }
}

/**
 * Checks a snapshot file the way `decodeSnapshotFile` does (checksum,
 * magic, version, lengths, name) reading it in chunks off the loop without
 * keeping its data: the snapshot returned reads the file on demand. A string
 * says why the file is unusable.
 */
export async function checkSnapshotFile(fileSystem: RangeReadFileSystem, dir: string, file: SnapshotFile): Promise<Snapshot | string> {
  const path = join(dir, file.name);
  let fd: number;
  try {
    fd = await offLoop.open(fileSystem, path, 'r');
  } catch (error) {
    return `unreadable: ${(error as Error).message}`;
  }
  try {
    return await checkOpenFile(fileSystem, fd, path, file);
  } catch (error) {
    return `unreadable: ${(error as Error).message}`;
  } finally {
    await offLoop.close(fileSystem, fd).catch(() => undefined);
  }
}

/** Bytes at the start of a file kept to decode its header (a header is well under it: metadata and a bounded membership). */
const HEAD_BYTES = 64 * 1024;

async function checkOpenFile(fileSystem: RangeReadFileSystem, fd: number, path: string, file: SnapshotFile): Promise<Snapshot | string> {
  const size = await fileSystem.fileSize(fd);
  if (size < 4) return 'shorter than its checksum';
  const summedEnd = size - 4;
  const trailer = Buffer.alloc(4);
  await readFully(fileSystem, fd, trailer, summedEnd);
  const head = Buffer.allocUnsafe(Math.min(HEAD_BYTES, summedEnd));
  const chunk = Buffer.allocUnsafe(Math.min(SNAPSHOT_LOAD_CHUNK_BYTES, Math.max(1, summedEnd)));
  let checksum = 0;
  // One chunk buffer reused: the data is summed, never kept. Bounded by the file's size: each read makes progress or throws.
  for (let position = 0; position < summedEnd; ) {
    const read = await fileSystem.read(fd, chunk, 0, Math.min(chunk.length, summedEnd - position), position);
    if (read <= 0) throw new Error(`the file ended at byte ${position} of ${size} while it was read`);
    if (position < head.length) chunk.copy(head, position, 0, Math.min(read, head.length - position));
    checksum = crc32c(chunk, checksum, 0, read);
    position += read;
  }
  if (storedChecksum(trailer) !== checksum) return 'checksum mismatch';
  try {
    const header = checkedSnapshotFileHeader(head, summedEnd, file);
    const { metadata } = header;
    const layout = { path, dataOffset: header.headerLength, dataLength: header.dataLength, headerChecksum: crc32c(head, 0, 0, header.headerLength), checksum };
    return { metadata, data: new FileSnapshotSource(fileSystem, layout) };
  } catch (error) {
    return `undecodable: ${(error as Error).message}`;
  }
}

async function readFully(fileSystem: RangeReadFileSystem, fd: number, bytes: Uint8Array, position: number): Promise<void> {
  // Bounded by the buffer's length: each read makes progress or throws.
  for (let done = 0; done < bytes.length; ) {
    const read = await fileSystem.read(fd, bytes, done, bytes.length - done, position + done);
    if (read <= 0) throw new Error(`the file ended at byte ${position + done}`);
    done += read;
  }
}

/** A snapshot's data as bytes in memory: itself, or read whole from its file (and checked). FileSnapshotSource is the one source there is. */
export async function readSnapshotData(data: SnapshotData): Promise<Uint8Array> {
  if (data instanceof Uint8Array) return data;
  if (data instanceof FileSnapshotSource) return data.readAll();
  throw new StorageUsageError('a snapshot source other than its file');
}
