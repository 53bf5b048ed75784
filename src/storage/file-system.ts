import * as fs from 'node:fs';
import { dirname } from 'node:path';
import { promisify } from 'node:util';
import { NoSpaceError, StorageError, StorageIoError } from './errors.js';

/**
 * The few synchronous file operations the storage layer uses, so that tests
 * can inject faults (a disk that fills up, a write that fails) where a real
 * one cannot be arranged. Production uses {@link nodeFileSystem}.
 */
export interface FileSystem {
  openSync(path: string, flags: string): number;
  closeSync(fd: number): void;
  writeSync(fd: number, buffer: Uint8Array, offset: number, length: number, position: number): number;
  readFileSync(path: string): Uint8Array;
  fdatasyncSync(fd: number): void;
  fsyncSync(fd: number): void;
  ftruncateSync(fd: number, length: number): void;
  renameSync(from: string, to: string): void;
  unlinkSync(path: string): void;
  readdirSync(path: string): string[];
  mkdirSync(path: string): void;
  existsSync(path: string): boolean;
  /**
   * Off-loop variants used by the async WAL writer (libuv's threadpool in
   * production). Optional: an injected test file system without them gets
   * its synchronous operations run in a microtask instead.
   */
  write?(fd: number, buffer: Uint8Array, offset: number, length: number, position: number): Promise<number>;
  /**
   * Several buffers written in order from `position` in one call (a WAL
   * batch whose large entries are their own parts); optional as `write`. A
   * test file system that injects faults into `write` must do the same
   * here (or leave it out), or large batches bypass them.
   */
  writev?(fd: number, buffers: readonly Uint8Array[], position: number): Promise<number>;
  fdatasync?(fd: number): Promise<void>;
  /** Off-loop variants used by the streamed snapshot writer (snapshot-files.ts); optional as above. */
  open?(path: string, flags: string): Promise<number>;
  close?(fd: number): Promise<void>;
  fsync?(fd: number): Promise<void>;
  rename?(from: string, to: string): Promise<void>;
  unlink?(path: string): Promise<void>;
  readFile?(path: string): Promise<Uint8Array>;
  /**
   * Off-loop reads used to load a snapshot in chunks at startup
   * (chunked-read.ts); optional: without both, the file is read whole
   * with `readFile` (or `readFileSync`) and only its checksum is sliced.
   */
  read?(fd: number, buffer: Uint8Array, offset: number, length: number, position: number): Promise<number>;
  fileSize?(fd: number): Promise<number>;
  /**
   * A synchronous read of a range, for reading one WAL record back
   * (Wal.readEntry). Optional: without it the log holds every entry's data
   * in memory, as before.
   */
  readSync?(fd: number, buffer: Uint8Array, offset: number, length: number, position: number): number;
}

function writeOffLoop(fd: number, buffer: Uint8Array, offset: number, length: number, position: number): Promise<number> {
  return new Promise((resolve, reject) => fs.write(fd, buffer, offset, length, position, (error, written) => (error ? reject(error) : resolve(written))));
}
const fdatasyncOffLoop = promisify(fs.fdatasync);
const openOffLoop = promisify(fs.open);
const closeOffLoop = promisify(fs.close);
const fsyncOffLoop = promisify(fs.fsync);
function writevOffLoop(fd: number, buffers: readonly Uint8Array[], position: number): Promise<number> {
  return new Promise((resolve, reject) => fs.writev(fd, buffers as Uint8Array[], position, (error, written) => (error ? reject(error) : resolve(written))));
}
function readOffLoop(fd: number, buffer: Uint8Array, offset: number, length: number, position: number): Promise<number> {
  return new Promise((resolve, reject) => fs.read(fd, buffer, offset, length, position, (error, read) => (error ? reject(error) : resolve(read))));
}
function fileSizeOffLoop(fd: number): Promise<number> {
  return new Promise((resolve, reject) => fs.fstat(fd, (error, stats) => (error ? reject(error) : resolve(stats.size))));
}

export const nodeFileSystem: FileSystem = {
  openSync: (path, flags) => fs.openSync(path, flags),
  closeSync: (fd) => fs.closeSync(fd),
  writeSync: (fd, buffer, offset, length, position) => fs.writeSync(fd, buffer, offset, length, position),
  readFileSync: (path) => fs.readFileSync(path),
  fdatasyncSync: (fd) => fs.fdatasyncSync(fd),
  fsyncSync: (fd) => fs.fsyncSync(fd),
  ftruncateSync: (fd, length) => fs.ftruncateSync(fd, length),
  renameSync: (from, to) => fs.renameSync(from, to),
  unlinkSync: (path) => fs.unlinkSync(path),
  readdirSync: (path) => fs.readdirSync(path),
  mkdirSync: (path) => void fs.mkdirSync(path, { recursive: true }),
  existsSync: (path) => fs.existsSync(path),
  readSync: (fd, buffer, offset, length, position) => fs.readSync(fd, buffer, offset, length, position),
  write: (fd, buffer, offset, length, position) => writeOffLoop(fd, buffer, offset, length, position),
  writev: (fd, buffers, position) => writevOffLoop(fd, buffers, position),
  fdatasync: (fd) => fdatasyncOffLoop(fd),
  open: (path, flags) => openOffLoop(path, flags),
  close: (fd) => closeOffLoop(fd),
  fsync: (fd) => fsyncOffLoop(fd),
  rename: (from, to) => fs.promises.rename(from, to),
  unlink: (path) => fs.promises.unlink(path),
  readFile: (path) => fs.promises.readFile(path),
  read: (fd, buffer, offset, length, position) => readOffLoop(fd, buffer, offset, length, position),
  fileSize: (fd) => fileSizeOffLoop(fd),
};

/**
 * The off-loop file operations, each falling back to its synchronous twin
 * (run after an await, so callers see the same ordering) when an injected
 * file system lacks it.
 */
export const offLoop = {
  open: async (fileSystem: FileSystem, path: string, flags: string): Promise<number> => (fileSystem.open ? fileSystem.open(path, flags) : fileSystem.openSync(path, flags)),
  close: async (fileSystem: FileSystem, fd: number): Promise<void> => (fileSystem.close ? fileSystem.close(fd) : fileSystem.closeSync(fd)),
  fsync: async (fileSystem: FileSystem, fd: number): Promise<void> => (fileSystem.fsync ? fileSystem.fsync(fd) : fileSystem.fsyncSync(fd)),
  rename: async (fileSystem: FileSystem, from: string, to: string): Promise<void> => (fileSystem.rename ? fileSystem.rename(from, to) : fileSystem.renameSync(from, to)),
  unlink: async (fileSystem: FileSystem, path: string): Promise<void> => (fileSystem.unlink ? fileSystem.unlink(path) : fileSystem.unlinkSync(path)),
  readFile: async (fileSystem: FileSystem, path: string): Promise<Uint8Array> => (fileSystem.readFile ? fileSystem.readFile(path) : fileSystem.readFileSync(path)),
  /** {@link fsyncDirectory} off the loop. */
  fsyncDirectory: async (fileSystem: FileSystem, dir: string): Promise<void> => {
    const fd = await offLoop.open(fileSystem, dir, 'r');
    try {
      await offLoop.fsync(fileSystem, fd);
    } finally {
      await offLoop.close(fileSystem, fd);
    }
  },
};

/** Writes all of `bytes` at `position` off the event loop, looping over short writes. */
export async function writeFullyAsync(fileSystem: FileSystem, fd: number, bytes: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < bytes.length) {
    const length = bytes.length - done;
    const written = fileSystem.write ? await fileSystem.write(fd, bytes, done, length, position + done) : fileSystem.writeSync(fd, bytes, done, length, position + done);
    if (written <= 0) throw new Error(`write made no progress at ${position + done}`);
    done += written;
  }
}

/**
 * Writes `parts` one after another from `position` off the event loop: one
 * writev where the file system has it (looping over a short one), else
 * {@link writeFullyAsync} per part.
 */
export async function writePartsAsync(fileSystem: FileSystem, fd: number, parts: readonly Uint8Array[], position: number): Promise<void> {
  if (fileSystem.writev === undefined || parts.length === 1) {
    for (const part of parts) {
      await writeFullyAsync(fileSystem, fd, part, position);
      position += part.length;
    }
    return;
  }
  let rest = parts;
  while (rest.length > 0) {
    let written = await fileSystem.writev(fd, rest, position);
    if (written <= 0) throw new Error(`write made no progress at ${position}`);
    position += written;
    let first = 0;
    while (first < rest.length && written >= rest[first]!.length) written -= rest[first++]!.length;
    rest = first < rest.length ? [rest[first]!.subarray(written), ...rest.slice(first + 1)] : [];
  }
}

/** fdatasync off the event loop (see {@link FileSystem.fdatasync}). */
export async function fdatasyncAsync(fileSystem: FileSystem, fd: number): Promise<void> {
  if (fileSystem.fdatasync) await fileSystem.fdatasync(fd);
  else fileSystem.fdatasyncSync(fd);
}

/** Writes all of `bytes` at `position`, looping over short writes. */
export function writeFully(fileSystem: FileSystem, fd: number, bytes: Uint8Array, position: number): void {
  let done = 0;
  while (done < bytes.length) {
    const written = fileSystem.writeSync(fd, bytes, done, bytes.length - done, position + done);
    if (written <= 0) throw new Error(`write made no progress at ${position + done}`);
    done += written;
  }
}

/** Makes a rename or unlink in `dir` durable: the directory entry itself must reach the disk. */
export function fsyncDirectory(fileSystem: FileSystem, dir: string): void {
  const fd = fileSystem.openSync(dir, 'r');
  try {
    fileSystem.fsyncSync(fd);
  } finally {
    fileSystem.closeSync(fd);
  }
}

/**
 * Replaces `path` with `text` so that a crash leaves the old content or the
 * new, never a torn file: a temporary file, fsync, rename, then an fsync of
 * the directory so the rename itself survives.
 */
export function replaceFileDurably(path: string, text: string, fileSystem: FileSystem = nodeFileSystem): void {
  const temporary = `${path}.tmp`;
  const fd = fileSystem.openSync(temporary, 'w');
  try {
    writeFully(fileSystem, fd, Buffer.from(text), 0);
    fileSystem.fsyncSync(fd);
  } finally {
    fileSystem.closeSync(fd);
  }
  fileSystem.renameSync(temporary, path);
  fsyncDirectory(fileSystem, dirname(path));
}

export function isNoSpace(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT';
}

/** Maps a failed file operation to a typed storage error (keel errors, e.g. from a failpoint, pass through). */
export function ioError(file: string, operation: string, error: unknown): Error {
  if (isNoSpace(error)) return new NoSpaceError(file, error);
  if (StorageError.is(error)) return error;
  return new StorageIoError(file, operation, error);
}
