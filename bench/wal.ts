/**
 * WAL group-commit throughput: fsync'd saves of 1 entry per Ready vs 64
 * entries per Ready, 256-byte entries, in the OS temp directory.
 * Usage: npx tsx bench/wal.ts [seconds-per-case=2]
 */
import { mkdtempSync, rmSync } from 'node:fs';
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
