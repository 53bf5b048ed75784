/**
 * Scavenge pauses against the young generation's size, on the store's own
 * write path: a child process encodes and applies txns of 100 puts of
 * 100-byte values (bench:scale's fill B) to a StoreStateMachine, under
 * `--trace-gc`, once per `--max-semi-space-size` (Node 20's default, 16
 * MiB, is the anchor), the sizes interleaved over rounds because the
 * machine is shared. Most of what a put allocates (its record, key and
 * value) survives, and a scavenge's pause grows with what survives, so a
 * smaller semi-space gives shorter, more frequent scavenges. Prints each
 * size's scavenge count, total, p90 and longest pause (the worst round).
 * Sets MEMBER_NODE_FLAGS in src/cli/up.ts.
 * Usage: npx tsx bench/young-gen.ts [keys=300000] [semi-space MiB=16,8,4] [rounds=3]
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { markdownTable } from './lib/table.js';

const CHILD = '--child';
const TXN_PUTS = 100;
const VALUE_BYTES = 100;
/** Txns applied per turn of the child's loop, so idle-time GC tasks get a chance as in a member. */
const TXNS_PER_TURN = 20;

async function child(keys: number): Promise<void> {
  const { encodeCommand, StoreStateMachine } = await import('../src/store/index.js');
  const machine = new StoreStateMachine();
  machine.subscribe(() => {});
  const encoder = new TextEncoder();
  let index = 0;
  let written = 0;
  await new Promise<void>((resolve) => {
    const turn = (): void => {
      for (let txn = 0; txn < TXNS_PER_TURN && written < keys; txn++) {
        const success = Array.from({ length: TXN_PUTS }, () => ({
          type: 'put' as const,
          request: { key: encoder.encode(`key-${String(written++).padStart(12, '0')}`), value: new Uint8Array(VALUE_BYTES).fill(written & 0xff) },
        }));
        machine.apply(++index, encodeCommand({ type: 'txn', request: { compare: [], success, failure: [] } }));
      }
      if (written < keys) setImmediate(turn);
      else resolve();
    };
    turn();
  });
}

interface Pauses {
  readonly count: number;
  readonly totalMs: number;
  readonly p90Ms: number;
  readonly maxMs: number;
}

function scavengePauses(trace: string): Pauses {
  const pauses = [...trace.matchAll(/Scavenge .*?MB, ([\d.]+) \//g)].map((match) => Number(match[1])).sort((a, b) => a - b);
  return {
    count: pauses.length,
    totalMs: pauses.reduce((sum, pause) => sum + pause, 0),
    p90Ms: pauses[Math.floor(pauses.length * 0.9)] ?? 0,
    maxMs: pauses.at(-1) ?? 0,
  };
}

if (process.argv[2] === CHILD) {
  await child(Number(process.argv[3]));
} else {
  const keys = Number(process.argv[2] ?? 300_000);
  const sizes = (process.argv[3] ?? '16,8,4').split(',').map(Number);
  const rounds = Number(process.argv[4] ?? 3);
  const self = fileURLToPath(import.meta.url);
  const worst = new Map<number, Pauses>();
  for (let round = 0; round < rounds; round++) {
    for (const size of sizes) {
      const run = spawnSync(process.execPath, ['--import', 'tsx', '--trace-gc', `--max-semi-space-size=${size}`, self, CHILD, String(keys)], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
      if (run.status !== 0) throw new Error(`child at ${size} MiB failed: ${run.stderr}`);
      const pauses = scavengePauses(run.stdout);
      const before = worst.get(size);
      if (before === undefined || pauses.maxMs > before.maxMs) worst.set(size, pauses);
    }
  }
  const anchor = worst.get(sizes[0]!)!;
  console.log(`${keys} puts in txns of ${TXN_PUTS}, ${VALUE_BYTES}-byte values; the worst of ${rounds} rounds per size (anchor: ${sizes[0]} MiB)`);
  console.log(
    markdownTable(
      ['semi-space MiB', 'scavenges', 'total ms', 'p90 ms', 'longest ms', 'longest ÷ anchor'],
      sizes.map((size) => {
        const pauses = worst.get(size)!;
        return [String(size), String(pauses.count), pauses.totalMs.toFixed(0), pauses.p90Ms.toFixed(1), pauses.maxMs.toFixed(1), `${(pauses.maxMs / anchor.maxMs).toFixed(2)}x`];
      }),
    ),
  );
}
