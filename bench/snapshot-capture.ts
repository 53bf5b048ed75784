/**
 * The synchronous part of a snapshot: the capture pass
 * (`KvStore.recordsByKey`, called by `StoreStateMachine.captureSnapshot`)
 * that lists every retained record by key while the member's event loop
 * waits (docs/persistence.md, "What still blocks"). The store is built
 * in-process with `--keys` keys of 22-byte names and 100-byte values, one
 * in five with three revisions, and the pass is timed by this process's
 * CPU time (process.cpuUsage), which on a shared machine stretches less
 * than the wall clock; rounds alternate between builds and the median and
 * the worst are printed.
 *
 * `--baseline DIR` times another build's same pass (DIR/dist, e.g. a copy
 * of an earlier commit built with `npx tsc -p tsconfig.build.json`) in the
 * same alternating rounds and prints the ratio.
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
  load(records: readonly unknown[], currentRevision: number, compactRevision: number): boolean;
  recordsByKey(): unknown[];
}
interface Build {
  readonly name: string;
  readonly store: Store;
  readonly records: number;
}

async function load(name: string, root: string): Promise<Build> {
  const module = async (path: string) => {
    const file = join(root, 'dist/src', path);
    if (!existsSync(file)) throw new Error(`${file} is missing: run npm run build (or point --baseline at a build)`);
    return import(file);
  };
  const { KvStore } = (await module('store/kv-store.js')) as { KvStore: new () => Store };
  const { KvRecord } = (await module('store/record.js')) as { KvRecord: new (...args: unknown[]) => unknown };
  // Records by key, then revision; revisions are unique across the store.
  const records: unknown[] = [];
  const value = 'v'.repeat(100);
  let revision = 2;
  for (let key = 0; key < KEYS; key++) {
    const name = `bench/capture/${String(key).padStart(8, '0')}`;
    const versions = key % 5 === 0 ? 3 : 1;
    const created = revision;
    for (let version = 1; version <= versions; version++) records.push(new KvRecord(name, revision++, 0, value, created, version, 0n));
  }
  const store = new KvStore();
  if (!store.load(records, revision - 1, 0)) throw new Error('the bench store refused its records');
  return { name, store, records: records.length };
}

function cpuMs(run: () => void): number {
  const before = process.cpuUsage();
  run();
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1000;
}

const root = new URL('..', import.meta.url).pathname;
const builds = [await load('this build', root), ...(BASELINE === undefined ? [] : [await load('baseline', BASELINE)])];
const samples: number[][] = builds.map(() => []);
for (const build of builds) build.store.recordsByKey(); // warm-up: JIT
for (let round = 0; round < ROUNDS; round++) {
  builds.forEach((build, index) => {
    let listed = 0;
    samples[index]!.push(cpuMs(() => (listed = build.store.recordsByKey().length)));
    if (listed !== build.records) throw new Error(`${build.name} listed ${listed} of ${build.records} records`);
  });
}
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const medians = samples.map(median);
const rows = [
  ['capture pass, median ms', ...medians.map((value) => value.toFixed(1)), ...(builds.length > 1 ? [(medians[0]! / medians[1]!).toFixed(2)] : [])],
  ['capture pass, worst ms', ...samples.map((list) => Math.max(...list).toFixed(1)), ...(builds.length > 1 ? [''] : [])],
];
console.log(`${builds[0]!.records} records (${KEYS} keys), CPU ms per pass (process.cpuUsage), ${ROUNDS} alternating rounds; Node ${process.version}.${BASELINE === undefined ? '' : ` Baseline: ${BASELINE}.`}\n`);
console.log(markdownTable(['measure', ...builds.map((build) => build.name), ...(builds.length > 1 ? ['this ÷ baseline'] : [])], rows));
