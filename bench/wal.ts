/**
 * WAL group-commit throughput: fsync'd saves of 1 entry per Ready vs 64
 * entries per Ready, 256-byte entries, in the OS temp directory. Then what a
 * log release used to hold the event loop for: deleting one written 64 MiB
 * segment and syncing its directory (the work FileStorage.releaseToAsync now
 * hands to libuv's threads), five times.
 * Usage: npx tsx bench/wal.ts [seconds-per-case=2]
 */
import { closeSync, fdatasyncSync, fsyncSync, mkdtempSync, openSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileStorage } from '../src/storage/index.js';

const seconds = Number(process.argv[2] ?? 2);

function run(entriesPerReady: number): { readiesPerSecond: number; entriesPerSecond: number } {
  const dir = mkdtempSync(join(tmpdir(), 'keel-bench-wal-'));
  const storage = new FileStorage(dir);
  storage.load();
  const data = new Uint8Array(256).fill(7);
  let index = 0;
  let readies = 0;
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(seconds * 1e9);
  while (process.hrtime.bigint() < deadline) {
    const entries = Array.from({ length: entriesPerReady }, () => ({ index: ++index, term: 1, type: 0 as const, data }));
    storage.save({ entries, hardState: { term: 1, vote: 'n1', commit: index } }, true);
    readies++;
  }
  const elapsed = Number(process.hrtime.bigint() - start) / 1e9;
  storage.close();
  rmSync(dir, { recursive: true, force: true });
  return { readiesPerSecond: readies / elapsed, entriesPerSecond: index / elapsed };
}

const single = run(1);
const batched = run(64);
console.log(`1 entry/Ready:   ${single.readiesPerSecond.toFixed(0)} fsync'd Readies/s = ${single.entriesPerSecond.toFixed(0)} entries/s`);
console.log(`64 entries/Ready: ${batched.readiesPerSecond.toFixed(0)} fsync'd Readies/s = ${batched.entriesPerSecond.toFixed(0)} entries/s`);
console.log(`group commit ratio (entries/s, 64 vs 1): ${(batched.entriesPerSecond / single.entriesPerSecond).toFixed(1)}x`);

const releaseDir = mkdtempSync(join(tmpdir(), 'keel-bench-release-'));
const releaseMs: string[] = [];
const megabyte = new Uint8Array(1024 * 1024).fill(1);
for (let round = 0; round < 5; round++) {
  const path = join(releaseDir, `segment-${round}`);
  const fd = openSync(path, 'w');
  for (let written = 0; written < 64; written++) writeSync(fd, megabyte);
  fdatasyncSync(fd);
  closeSync(fd);
  const started = performance.now();
  unlinkSync(path);
  const dirFd = openSync(releaseDir, 'r');
  fsyncSync(dirFd);
  closeSync(dirFd);
  releaseMs.push((performance.now() - started).toFixed(1));
}
rmSync(releaseDir, { recursive: true, force: true });
console.log(`release of one 64 MiB segment (unlink + directory fsync), ms: ${releaseMs.join(', ')}`);
