import { join } from 'node:path';
import type { Snapshot, SnapshotData, SnapshotMetadata } from '../raft/types.js';
import { ByteReader, ByteWriter, DecodeError } from '../codec/index.js';
import { decodeSnapshotMetadata, encodeSnapshotMetadata } from './codec.js';
import { crc32c } from './crc32c.js';
import { StorageUsageError } from './errors.js';
import { failpoint } from './failpoints.js';
import { type FileSystem, fsyncDirectory, ioError, offLoop, writeFully } from './file-system.js';
import { SNAPSHOT_SIZE_BYTES_MAX } from './limits.js';
import { readSnapshotBytes } from './chunked-read.js';
import { hex16 } from './wal-format.js';

/**
 * Snapshot files `snap-<term>-<index>.snap` (16 hex digits each):
 *
 *     u32 magic "KSNP", u16 version, u16 0, metadata (index, term, membership),
 *     u64 data length, data, u32 CRC-32C of everything before it
 *
 * Written to a temporary file, fsynced, renamed into place, and the
 * directory fsynced: a snapshot file either exists whole or not at all.
 */
const MAGIC = 0x504e534b; // "KSNP"
const VERSION = 1;

export interface SnapshotFile {
  readonly name: string;
  readonly index: number;
  readonly term: number;
}

export class SnapshotFiles {
  readonly #dir: string;
  readonly #fs: FileSystem;

  constructor(dir: string, fileSystem: FileSystem) {
    this.#dir = dir;
    this.#fs = fileSystem;
  }

  /** Creates the directory and removes temporary files a crash left behind. */
  prepare(): void {
    this.#fs.mkdirSync(this.#dir);
    for (const name of this.#fs.readdirSync(this.#dir)) if (name.endsWith('.tmp')) this.#fs.unlinkSync(join(this.#dir, name));
  }

  /** Snapshot files, newest (highest index) first. */
  list(): SnapshotFile[] {
    const files: SnapshotFile[] = [];
    for (const name of this.#fs.readdirSync(this.#dir)) {
      const match = /^snap-([0-9a-f]{16})-([0-9a-f]{16})\.snap$/.exec(name);
      if (match) files.push({ name, term: parseInt(match[1]!, 16), index: parseInt(match[2]!, 16) });
    }
    return files.sort((a, b) => b.index - a.index || b.term - a.term);
  }

  /** The directory the files live in. */
  get dir(): string {
    return this.#dir;
  }

  save(snapshot: Snapshot): SnapshotFile {
    failpoint('snapshot-before-save');
    const file = snapshotFileFor(snapshot.metadata);
    const temporary = join(this.#dir, `${file.name}.tmp`);
    const data = inMemoryData(snapshot.data);
    const headerBytes = encodeSnapshotFileHeader(snapshot.metadata, data.length);
    const trailer = new ByteWriter(4).u32le(crc32c(data, crc32c(headerBytes))).finish();
    let fd = -1;
    try {
      fd = this.#fs.openSync(temporary, 'w');
      writeFully(this.#fs, fd, headerBytes, 0);
      writeFully(this.#fs, fd, data, headerBytes.length);
      writeFully(this.#fs, fd, trailer, headerBytes.length + data.length);
      this.#fs.fsyncSync(fd);
      this.#fs.closeSync(fd);
      fd = -1;
      failpoint('snapshot-after-tmp-write');
      this.#fs.renameSync(temporary, join(this.#dir, file.name));
      failpoint('snapshot-after-rename');
      fsyncDirectory(this.#fs, this.#dir);
    } catch (error) {
      if (fd >= 0) this.#fs.closeSync(fd);
      if (this.#fs.existsSync(temporary)) this.#fs.unlinkSync(temporary);
      throw ioError(temporary, 'save snapshot', error);
    }
    return file;
  }

  /** Reads and checks a snapshot file; a string says why it is unusable. */
  load(file: SnapshotFile): Snapshot | string {
    let bytes: Uint8Array;
    try {
      bytes = this.#fs.readFileSync(join(this.#dir, file.name));
    } catch (error) {
      return `unreadable: ${(error as Error).message}`;
    }
    return decodeSnapshotFile(bytes, file);
  }

  /**
   * {@link load} without holding the event loop: the file read in chunks off
   * it and checksummed a chunk per turn (chunked-read.ts), then checked
   * and decoded by the same {@link decodeSnapshotFile}, so a damaged file
   * gets the same reason.
   */
  async loadAsync(file: SnapshotFile): Promise<Snapshot | string> {
    let read;
    try {
      read = await readSnapshotBytes(this.#fs, join(this.#dir, file.name));
    } catch (error) {
      return `unreadable: ${(error as Error).message}`;
    }
    return decodeSnapshotFile(read.bytes, file, read.checksum);
  }

  /** Deletes the given snapshot files, then makes the deletions durable. */
  remove(files: readonly SnapshotFile[]): void {
    if (files.length === 0) return;
    for (const file of files) this.#fs.unlinkSync(join(this.#dir, file.name));
    fsyncDirectory(this.#fs, this.#dir);
  }

  /** {@link remove} off the event loop (a snapshot file at the full quota is gigabytes: its unlink frees every extent). */
  async removeAsync(files: readonly SnapshotFile[]): Promise<void> {
    if (files.length === 0) return;
    for (const file of files) await offLoop.unlink(this.#fs, join(this.#dir, file.name));
    await offLoop.fsyncDirectory(this.#fs, this.#dir);
  }
}

/** The bytes of a snapshot held in memory; the synchronous paths (`save`, the simulator's storage) take only those. */
export function inMemoryData(data: SnapshotData): Uint8Array {
  if (!(data instanceof Uint8Array)) throw new StorageUsageError('a snapshot read from its file cannot be written synchronously');
  return data;
}

/** The file a snapshot with `metadata` is saved as. */
export function snapshotFileFor(metadata: SnapshotMetadata): SnapshotFile {
  const { index, term } = metadata;
  return { name: `snap-${hex16(term)}-${hex16(index)}.snap`, index, term };
}

/** Everything in a snapshot file before its data: its length depends on the metadata only (the data length is fixed-width). */
export function encodeSnapshotFileHeader(metadata: SnapshotMetadata, dataLength: number): Uint8Array {
  const header = new ByteWriter(256).u32le(MAGIC).u16le(VERSION).u16le(0);
  encodeSnapshotMetadata(header, metadata);
  header.u64le(dataLength);
  return header.finish();
}

/** The checksum a snapshot file's last four bytes hold. */
export function storedChecksum(bytes: Uint8Array): number {
  return new DataView(bytes.buffer, bytes.byteOffset + bytes.length - 4, 4).getUint32(0, true);
}

/** A snapshot file's header: its metadata, its own length and the data length it declares. */
export interface SnapshotFileHeader {
  readonly metadata: SnapshotMetadata;
  readonly headerLength: number;
  readonly dataLength: number;
}

/**
 * Decodes the header at the start of `head` (the whole file or its first
 * bytes) of the file `file` whose bytes before the trailer number
 * `summedBytes`, and checks it against them: the data fills the rest, and
 * the metadata is what the name says. Throws DecodeError.
 */
export function checkedSnapshotFileHeader(head: Uint8Array, summedBytes: number, file: SnapshotFile): SnapshotFileHeader {
  const header = decodeSnapshotFileHeader(head);
  const { metadata, headerLength, dataLength } = header;
  if (dataLength !== summedBytes - headerLength) throw new DecodeError(`data length ${dataLength} does not match the file`);
  if (metadata.index !== file.index || metadata.term !== file.term) throw new DecodeError(`holds ${metadata.term}/${metadata.index}, not what its name says`);
  return header;
}

function decodeSnapshotFileHeader(bytes: Uint8Array): SnapshotFileHeader {
  const reader = new ByteReader(bytes);
  if (reader.u32le() !== MAGIC) throw new DecodeError('bad magic');
  const version = reader.u16le();
  if (version !== VERSION) throw new DecodeError(`unsupported version ${version}`);
  reader.u16le();
  const metadata = decodeSnapshotMetadata(reader);
  const dataLength = reader.u64le();
  if (dataLength > SNAPSHOT_SIZE_BYTES_MAX) throw new DecodeError(`data length ${dataLength} is beyond ${SNAPSHOT_SIZE_BYTES_MAX}`);
  return { metadata, headerLength: reader.offset, dataLength };
}

/**
 * Checks and decodes a whole snapshot file. `checksum` is the CRC-32C of
 * everything before the trailer when the caller already computed it (in
 * slices, off the critical path); otherwise it is computed here.
 */
export function decodeSnapshotFile(bytes: Uint8Array, file: SnapshotFile, checksum?: number): Snapshot | string {
  if (bytes.length < 4) return 'shorter than its checksum';
  if (storedChecksum(bytes) !== (checksum ?? crc32c(bytes, 0, 0, bytes.length - 4))) return 'checksum mismatch';
  try {
    const { metadata, dataLength: length } = checkedSnapshotFileHeader(bytes.subarray(0, bytes.length - 4), bytes.length - 4, file);
    // A view, not a copy: the buffer was read for this snapshot alone, and copying hundreds of MiB stalls the event loop (fresh pages).
    return { metadata, data: new Uint8Array(bytes.buffer, bytes.byteOffset + bytes.length - 4 - length, length) }; // a plain Uint8Array even when read as a Buffer
  } catch (error) {
    return `undecodable: ${(error as Error).message}`;
  }
}
