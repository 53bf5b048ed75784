import * as fs from 'node:fs';
import { dirname } from 'node:path';
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
};

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
