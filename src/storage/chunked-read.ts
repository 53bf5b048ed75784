/**
 * Whole files read at startup without holding the event loop: a snapshot
 * (with its checksum computed a chunk per turn) or a WAL segment.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import { crc32c } from './crc32c.js';
import { type FileSystem, offLoop } from './file-system.js';
import { SNAPSHOT_CHECKSUM_SLICE_BYTES, SNAPSHOT_LOAD_CHUNK_BYTES } from './limits.js';

/** A snapshot file's bytes and the CRC-32C of all of them but the last four (the trailer that holds the stored one). */
export interface CheckedBytes {
  readonly bytes: Uint8Array;
  readonly checksum: number;
}

/**
 * Reads a whole file without holding the event loop for long: chunks of
 * SNAPSHOT_LOAD_CHUNK_BYTES read off the loop into one buffer allocated at
 * the file's size, each checksummed on the loop while the next one is being
 * read. Only the bytes are read and summed here: what they mean (and whether
 * the sum matches the trailer) is `decodeSnapshotFile`'s, the one parser of
 * the format, shared with the synchronous load. Throws the file system's
 * error when the file cannot be read, or shrinks while it is read.
 */
export async function readSnapshotBytes(fileSystem: FileSystem, path: string): Promise<CheckedBytes> {
  if (!fileSystem.read || !fileSystem.fileSize) return checksumWhole(await offLoop.readFile(fileSystem, path));
  const fd = await offLoop.open(fileSystem, path, 'r');
  try {
    return await readChunks(fileSystem as Required<Pick<FileSystem, 'read' | 'fileSize'>>, fd);
  } finally {
    await offLoop.close(fileSystem, fd);
  }
}

/**
 * A file's bytes read as {@link readSnapshotBytes} reads them, without the
 * checksum (a WAL segment: its records carry their own, checked by the scan).
 */
export async function readFileInChunks(fileSystem: FileSystem, path: string): Promise<Uint8Array> {
  if (!fileSystem.read || !fileSystem.fileSize) return offLoop.readFile(fileSystem, path);
  const fd = await offLoop.open(fileSystem, path, 'r');
  try {
    return (await readChunks(fileSystem as Required<Pick<FileSystem, 'read' | 'fileSize'>>, fd, false)).bytes;
  } finally {
    await offLoop.close(fileSystem, fd);
  }
}

async function readChunks(fileSystem: Required<Pick<FileSystem, 'read' | 'fileSize'>>, fd: number, summed = true): Promise<CheckedBytes> {
  const size = await fileSystem.fileSize(fd);
  // Not zero-filled: every byte is overwritten by a read below before it is used, and touching 100s of MiB of fresh pages on the loop is the stall this avoids.
  const bytes = Buffer.allocUnsafe(size);
  const summedEnd = Math.max(0, size - 4);
  const readAt = (position: number): Promise<number> => fileSystem.read(fd, bytes, position, Math.min(SNAPSHOT_LOAD_CHUNK_BYTES, size - position), position);
  let filled = 0;
  let checksum = 0;
  let reading = size > 0 ? readAt(0) : undefined;
  // At most one read per chunk, plus the short reads the OS may return: bounded by the file's size.
  while (reading !== undefined) {
    const read = await reading;
    if (read <= 0) throw new Error(`the file ended at byte ${filled} of ${size} while it was read`);
    const start = filled;
    filled += read;
    reading = filled < size ? readAt(filled) : undefined; // the next chunk is read off the loop while this one is summed
    if (summed) checksum = crc32c(bytes, checksum, Math.min(start, summedEnd), Math.min(filled, summedEnd));
  }
  return { bytes: new Uint8Array(bytes.buffer, bytes.byteOffset, size), checksum };
}

/** The fallback for a file system without chunked reads: the bytes read whole, their checksum still in slices. */
async function checksumWhole(bytes: Uint8Array): Promise<CheckedBytes> {
  const summedEnd = Math.max(0, bytes.length - 4);
  let checksum = 0;
  for (let start = 0; start < summedEnd; start += SNAPSHOT_CHECKSUM_SLICE_BYTES) {
    checksum = crc32c(bytes, checksum, start, Math.min(start + SNAPSHOT_CHECKSUM_SLICE_BYTES, summedEnd));
    await nextTurn();
  }
  return { bytes, checksum };
}
