import { join } from 'node:path';
import type { Snapshot } from '../raft/types.js';
import { ByteReader, ByteWriter, DecodeError } from '../codec/index.js';
import { decodeSnapshotMetadata, encodeSnapshotMetadata } from './codec.js';
import { crc32c } from './crc32c.js';
import { failpoint } from './failpoints.js';
import { type FileSystem, fsyncDirectory, ioError, writeFully } from './file-system.js';
import { SNAPSHOT_SIZE_BYTES_MAX } from './limits.js';
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

  save(snapshot: Snapshot): SnapshotFile {
    failpoint('snapshot-before-save');
    const { index, term } = snapshot.metadata;
    const file: SnapshotFile = { name: `snap-${hex16(term)}-${hex16(index)}.snap`, index, term };
    const temporary = join(this.#dir, `${file.name}.tmp`);
    const header = new ByteWriter(256).u32le(MAGIC).u16le(VERSION).u16le(0);
    encodeSnapshotMetadata(header, snapshot.metadata);
    header.u64le(snapshot.data.length);
    const headerBytes = header.finish();
    const trailer = new ByteWriter(4).u32le(crc32c(snapshot.data, crc32c(headerBytes))).finish();
    let fd = -1;
    try {
      fd = this.#fs.openSync(temporary, 'w');
      writeFully(this.#fs, fd, headerBytes, 0);
      writeFully(this.#fs, fd, snapshot.data, headerBytes.length);
      writeFully(this.#fs, fd, trailer, headerBytes.length + snapshot.data.length);
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

  /** Deletes the given snapshot files, then makes the deletions durable. */
  remove(files: readonly SnapshotFile[]): void {
    if (files.length === 0) return;
    for (const file of files) this.#fs.unlinkSync(join(this.#dir, file.name));
    fsyncDirectory(this.#fs, this.#dir);
  }
}

function decodeSnapshotFile(bytes: Uint8Array, file: SnapshotFile): Snapshot | string {
  if (bytes.length < 4) return 'shorter than its checksum';
  const stored = new DataView(bytes.buffer, bytes.byteOffset + bytes.length - 4, 4).getUint32(0, true);
  if (stored !== crc32c(bytes, 0, 0, bytes.length - 4)) return 'checksum mismatch';
  try {
    const reader = new ByteReader(bytes, 0, bytes.length - 4);
    if (reader.u32le() !== MAGIC) throw new DecodeError('bad magic');
    const version = reader.u16le();
    if (version !== VERSION) throw new DecodeError(`unsupported version ${version}`);
    reader.u16le();
    const metadata = decodeSnapshotMetadata(reader);
    const length = reader.u64le();
    if (length > SNAPSHOT_SIZE_BYTES_MAX || length !== reader.remaining) throw new DecodeError(`data length ${length} does not match the file`);
    if (metadata.index !== file.index || metadata.term !== file.term) throw new DecodeError(`holds ${metadata.term}/${metadata.index}, not what its name says`);
    return { metadata, data: reader.rest() };
  } catch (error) {
    return `undecodable: ${(error as Error).message}`;
  }
}
