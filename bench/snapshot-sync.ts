/**
 * What a snapshot file's flush costs the WAL beside it. A WAL-shaped writer
 * (1,400-byte records, each written and fdatasynced, one at a time) runs
 * while a snapshot-shaped writer writes `--mib` MiB in 256 KiB chunks (a
 * turn of the loop between chunks, as the member streams them) and then
 * fsyncs it, with the snapshot file either synced only at the end (the
 * member before SNAPSHOT_SYNC_EVERY_BYTES, the anchor row) or fdatasynced
 * every N MiB as it goes. Both files are in one directory, so on one
 * filesystem journal: an fdatasync of the WAL waits for whatever the
 * journal commit has to flush with it. Prints the WAL's fdatasync latency
 * per row and its worst case against the anchor's.
 *
 * Usage: npx tsx bench/snapshot-sync.ts [--mib 200] [--every 16,8,4] [--rounds 2] [--dir DIR]
 * (--dir on a slower disk, e.g. a faultfs mount, shows what a cloud disk does)
 */
import { closeSync, fdatasync, fsync, mkdtempSync, openSync, rmSync, write } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseArgs } from 'node:util';
import { markdownTable } from './lib/table.js';

const { values: args } = parseArgs({
  options: {
    mib: { type: 'string', default: '200' },
    every: { type: 'string', default: '16,8,4' },
    rounds: { type: 'string', default: '2' },
    dir: { type: 'string' },
  },
});
const MIB = 1024 * 1024;
const totalBytes = Number(args.mib) * MIB;
const everies = args.every.split(',').map(Number);
const rounds = Number(args.rounds);
if (!(totalBytes > 0 && totalBytes <= 4096 * MIB)) throw new Error('--mib must be in 1..4096');
if (everies.some((every) => !(every > 0 && every <= 4096))) throw new Error('--every takes MiB values in 1..4096');
if (!(Number.isInteger(rounds) && rounds >= 1 && rounds <= 20)) throw new Error('--rounds must be in 1..20');

const writeAsync = promisify(write);
const fdatasyncAsync = promisify(fdatasync);
const fsyncAsync = promisify(fsync);
const CHUNK_BYTES = 256 * 1024;
const WAL_RECORD_BYTES = 1_400;
/** The WAL writer's records, bounded whatever the disk does. */
const WAL_RECORDS_MAX = 1_000_000;

interface Result {
  readonly seconds: number;
  readonly walSyncs: number[];
}

async function run(dir: string, syncEveryBytes: number | undefined): Promise<Result> {
  const snapshot = openSync(join(dir, 'snapshot.tmp'), 'w');
  const wal = openSync(join(dir, 'wal.tmp'), 'w');
  const walSyncs: number[] = [];
  let stop = false;
  const walWriter = (async () => {
    const record = Buffer.alloc(WAL_RECORD_BYTES, 1);
    for (let i = 0; !stop && i < WAL_RECORDS_MAX; i++) {
      const started = performance.now();
      await writeAsync(wal, record);
      await fdatasyncAsync(wal);
      walSyncs.push(performance.now() - started);
    }
  })();
  const chunk = Buffer.alloc(CHUNK_BYTES, 7);
  const started = performance.now();
  let unsynced = 0;
  for (let written = 0; written < totalBytes; written += CHUNK_BYTES) {
    await writeAsync(snapshot, chunk);
    unsynced += CHUNK_BYTES;
    if (syncEveryBytes !== undefined && unsynced >= syncEveryBytes) {
      unsynced = 0;
      await fdatasyncAsync(snapshot);
    }
    await new Promise((resolve) => setImmediate(resolve));
  }
  await fsyncAsync(snapshot);
  const seconds = (performance.now() - started) / 1000;
  stop = true;
  await walWriter;
  closeSync(snapshot);
  closeSync(wal);
  rmSync(join(dir, 'snapshot.tmp'));
  rmSync(join(dir, 'wal.tmp'));
  return { seconds, walSyncs };
}

function quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))] ?? Number.NaN;
}

const dir = mkdtempSync(join(args.dir ?? tmpdir(), 'keel-snapshot-sync-'));
try {
  const rows: string[][] = [];
  const variants: { name: string; every: number | undefined }[] = [{ name: 'one fsync at the end (anchor)', every: undefined }, ...everies.map((every) => ({ name: `fdatasync every ${every} MiB`, every: every * MIB }))];
  let anchorMax = Number.NaN;
  for (let round = 0; round < rounds; round++) {
    for (const variant of variants) {
      const result = await run(dir, variant.every);
      const sorted = [...result.walSyncs].sort((a, b) => a - b);
      const max = sorted.at(-1) ?? Number.NaN;
      if (variant.every === undefined) anchorMax = max;
      rows.push([
        String(round + 1),
        variant.name,
        result.seconds.toFixed(2),
        String(sorted.length),
        quantile(sorted, 0.5).toFixed(2),
        quantile(sorted, 0.99).toFixed(2),
        max.toFixed(1),
        (max / anchorMax).toFixed(2),
      ]);
    }
  }
  console.log(`\nA ${args.mib} MiB snapshot file written in 256 KiB chunks beside a WAL writer (1,400-byte records, each fdatasynced), in ${dir}\n`);
  console.log(markdownTable(['round', 'snapshot file', 'snapshot write + sync s', 'WAL syncs', 'WAL sync p50 ms', 'p99 ms', 'max ms', 'max ÷ anchor max'], rows));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
