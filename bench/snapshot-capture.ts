/**
 * The synchronous part of a snapshot: the capture pass that a member's
 * event loop waits for (docs/persistence.md, "What still blocks"). Since
 * KeyOrderCapture it is `KvStore.captureByKey` (the key order copied; each
 * key's records read later, chunk by chunk, by the encoder); before, it was
 * `KvStore.recordsByKey` (every record listed in one array), which this
 * build still has for its one-call `snapshot()`, so both are timed here.
 * The store is built in-process with `--keys` keys of 22-byte names and
 * 100-byte values, one in five with three revisions, and each pass is
 * timed by this process's CPU time (process.cpuUsage), which on a shared
 * machine stretches less than the wall clock; rounds alternate and the
 * median and the worst are printed.
 *
 * `--baseline DIR` times another build's capture (DIR/dist, e.g. a copy
 * of an earlier commit built with `npx tsc -p tsconfig.build.json`) in the
 * same alternating rounds: its captureByKey if it has one, else its
 * recordsByKey.
 *
 * Usage: npx tsx bench/snapshot-capture.ts [--keys 500000] [--rounds 7] [--baseline DIR] (after npm run build: it times dist/)
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { numberArgument, stringArgument } from './lib/gateway/args.js';
import { markdownTable } from './lib/table.js';

const KEYS = numberArgument('keys', 500_000);
const ROUNDS = numberArgument('rounds', 7);
const BASELINE = stringArgument('baseline');

interface Store {
  beginWrite(): { put(key: string, value: string, lease: bigint): unknown; commit(): number };
  recordsByKey(): unknown[];
  captureByKey?(): { readonly length: number; release(): void };
}
interface Pass {
  readonly name: string;
  readonly store: Store;
  readonly records: number;
  /** Runs the pass; returns how many records it covers. */
  readonly run: () => number;
}

async function load(name: string, root: string): Promise<Store> {
  const file = join(root, 'dist/src/store/kv-store.js');
  if (!existsSync(file)) throw new Error(`${file} is missing: run npm run build (or point --baseline at a build)`);
  const { KvStore } = (await import(file)) as { KvStore: new () => Store };
  const store = new KvStore();
  const value = 'v'.repeat(100);
  for (let key = 0; key < KEYS; key++) {
    const name = `bench/capture/${String(key).padStart(8, '0')}`;
    for (let version = 1; version <= (key % 5 === 0 ? 3 : 1); version++) {
      const write = store.beginWrite();
      write.put(name, value, 0n);
      write.commit();
    }
  }
  return store;
}

function passesOf(name: string, store: Store, records: number): Pass[] {
  const array: Pass = { name: `${name}: recordsByKey`, store, records, run: () => store.recordsByKey().length };
  if (store.captureByKey === undefined) return [array];
  const capture: Pass = {
    name: `${name}: captureByKey`,
    store,
    records,
    run: () => {
      const taken = store.captureByKey!();
      taken.release();
      return taken.length;
    },
  };
  return [capture, array];
}

function cpuMs(run: () => void): number {
  const before = process.cpuUsage();
  run();
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1000;
}

const root = new URL('..', import.meta.url).pathname;
const records = KEYS + Math.ceil(KEYS / 5) * 2;
const passes = [...passesOf('this build', await load('this build', root), records), ...(BASELINE === undefined ? [] : passesOf('baseline', await load('baseline', BASELINE), records).slice(0, 1))];
const samples: number[][] = passes.map(() => []);
for (const pass of passes) pass.run(); // warm-up: JIT
for (let round = 0; round < ROUNDS; round++) {
  passes.forEach((pass, index) => {
    let listed = 0;
    samples[index]!.push(cpuMs(() => (listed = pass.run())));
    if (listed !== pass.records) throw new Error(`${pass.name} covered ${listed} of ${pass.records} records`);
  });
}
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const medians = samples.map(median);
const last = medians.length - 1;
const rows = passes.map((pass, index) => [pass.name, medians[index]!.toFixed(1), Math.max(...samples[index]!).toFixed(1), (medians[index]! / medians[last]!).toFixed(3)]);
console.log(`${records} records (${KEYS} keys), CPU ms per pass (process.cpuUsage), ${ROUNDS} alternating rounds; Node ${process.version}.${BASELINE === undefined ? '' : ` Baseline: ${BASELINE}.`}\n`);
console.log(markdownTable(['pass', 'median ms', 'worst ms', `÷ ${passes[last]!.name}`], rows));
