/**
 * The MVCC state machine on N keys of 100-byte values: encode + apply
 * throughput of put commands (keys in a shuffled order), point reads,
 * exact 100-key range reads, limited prefix reads, heap bytes per key,
 * snapshot, restore, hash and compaction times, and one DeleteRange of every
 * key with the compaction after it. Anchor, in the same run: a
 * plain Map<string, Uint8Array> holding the same keys and values (no
 * revisions, no index order), the floor any in-memory JavaScript store pays.
 * Usage: node --expose-gc --import tsx bench/store.ts [keys=100000,1000000]
 * (KEEL_CRC32C=portable: the snapshot's checksum in JavaScript, as before the codec took the native one)
 */
import { encodeCommand, prefixRangeEnd, StoreStateMachine } from '../src/store/index.js';
// As in a member: the storage layer installs its native CRC-32C into the codec the snapshot encoder and decoder use
// (KEEL_CRC32C=portable keeps the JavaScript one, for a comparison).
import { crc32cImplementation } from '../src/storage/crc32c.js';

const sizes = (process.argv[2] ?? '100000,1000000').split(',').map(Number);
const VALUE_BYTES = 100;
const READS = 200_000;
const RANGES = 20_000;
const encoder = new TextEncoder();

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) {
  console.error('run with node --expose-gc --import tsx bench/store.ts');
  process.exit(1);
}

function heapBytes(): number {
  gc!();
  gc!();
  return process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers;
}

function seconds(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e9;
}

/** A deterministic permutation of 0..n-1 (xorshift-driven Fisher-Yates). */
function shuffled(n: number): Uint32Array {
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  let state = 0x9e3779b9;
  for (let i = n - 1; i > 0; i--) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    const j = (state >>> 0) % (i + 1);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order;
}

const keyOf = (i: number) => encoder.encode(`/registry/pods/ns-${i % 97}/pod-${i.toString().padStart(8, '0')}`);

function rate(count: number, elapsed: number): string {
  return `${Math.round(count / elapsed).toLocaleString('en-US')}/s`;
}

function benchStore(n: number, order: Uint32Array): Record<string, string> {
  const value = new Uint8Array(VALUE_BYTES).fill(0x61);
  const base = heapBytes();
  const machine = new StoreStateMachine();
  // Commands are encoded in batches of 1000 inside the timed loop, as a node
  // receives committed entries a Ready at a time (holding all N encoded
  // commands at once would mostly measure the garbage collector).
  let start = process.hrtime.bigint();
  for (let batchStart = 0; batchStart < n; batchStart += 1000) {
    const batch = [];
    for (let i = batchStart; i < Math.min(n, batchStart + 1000); i++) batch.push(encodeCommand({ type: 'put', request: { key: keyOf(order[i]!), value } }));
    for (let i = 0; i < batch.length; i++) machine.apply(batchStart + i + 1, batch[i]!);
  }
  const putSeconds = seconds(start);
  const perKey = (heapBytes() - base) / n;

  const keys = Array.from({ length: READS }, (_, i) => keyOf(order[(i * 7919) % n]!));
  start = process.hrtime.bigint();
  for (const key of keys) machine.range({ key });
  const getSeconds = seconds(start);

  // [key i, key i + 97*100) holds exactly 100 keys: key i's namespace is i mod 97.
  const spans = Array.from({ length: RANGES }, (_, r) => (r * 7919) % (n - 97 * 100)).map((i) => ({ key: keyOf(i), rangeEnd: keyOf(i + 97 * 100) }));
  start = process.hrtime.bigint();
  for (const span of spans) if (machine.range(span).count !== 100) throw new Error('span is not 100 keys');
  const rangeSeconds = seconds(start);

  // A prefix read with a limit still visits every key of the prefix to fill `count` (etcd's treeIndex does the same).
  const prefixes = Array.from({ length: RANGES / 10 }, (_, i) => encoder.encode(`/registry/pods/ns-${i % 97}/`));
  start = process.hrtime.bigint();
  for (const prefix of prefixes) machine.range({ key: prefix, rangeEnd: prefixRangeEnd(prefix), limit: 100 });
  const prefixSeconds = seconds(start);

  start = process.hrtime.bigint();
  const snapshot = machine.snapshot();
  const snapshotSeconds = seconds(start);
  start = process.hrtime.bigint();
  const restored = new StoreStateMachine();
  restored.restore(snapshot);
  const restoreSeconds = seconds(start);
  start = process.hrtime.bigint();
  const hash = machine.hash();
  const hashSeconds = seconds(start);
  if (restored.hash().hash !== hash.hash) throw new Error('restored state differs');

  // Overwrite 10% of the keys, then compact away their old revisions.
  for (let i = 0; i < n / 10; i++) machine.apply(n + i + 1, encodeCommand({ type: 'put', request: { key: keyOf(order[i]!), value } }));
  start = process.hrtime.bigint();
  machine.apply(n + n / 10 + 1, encodeCommand({ type: 'compact', request: { revision: machine.revision } }));
  const compactSeconds = seconds(start);

  // Delete every key in one DeleteRange, then compact at it (etcdctl check perf's cleanup; the apply is one
  // synchronous step on every member's event loop, so its duration is a stall of that loop).
  const everything = { key: encoder.encode('/'), rangeEnd: encoder.encode('0') };
  let index = n + n / 10 + 2;
  start = process.hrtime.bigint();
  const deleted = machine.apply(index++, encodeCommand({ type: 'deleteRange', request: everything }));
  const deleteSeconds = seconds(start);
  if (deleted.status !== 'applied' || deleted.response.type !== 'deleteRange' || deleted.response.response.deleted !== n) throw new Error('the delete did not delete every key');
  start = process.hrtime.bigint();
  machine.apply(index, encodeCommand({ type: 'compact', request: { revision: machine.revision } }));
  const compactDeletedSeconds = seconds(start);
  if (machine.range({ key: everything.key, rangeEnd: everything.rangeEnd, countOnly: true }).count !== 0) throw new Error('keys left after the delete');

  return {
    'put (encode + apply)': rate(n, putSeconds),
    'get (1 key)': rate(READS, getSeconds),
    'range (100 keys)': rate(RANGES, rangeSeconds),
    [`prefix (${Math.round(n / 97)} keys, limit 100)`]: rate(RANGES / 10, prefixSeconds),
    'heap per key': `${Math.round(perKey)} B`,
    'snapshot': `${snapshotSeconds.toFixed(2)} s, ${(snapshot.length / 1e6).toFixed(0)} MB`,
    'restore': `${restoreSeconds.toFixed(2)} s`,
    'hash': `${hashSeconds.toFixed(2)} s`,
    'compact (10% overwritten)': `${compactSeconds.toFixed(2)} s`,
    'delete range (every key, one command)': `${deleteSeconds.toFixed(2)} s`,
    'compact after that delete': `${compactDeletedSeconds.toFixed(2)} s`,
  };
}

function benchMap(n: number, order: Uint32Array): Record<string, string> {
  const value = new Uint8Array(VALUE_BYTES).fill(0x61);
  const base = heapBytes();
  const map = new Map<string, Uint8Array>();
  const decoder = new TextDecoder('latin1');
  let start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) map.set(decoder.decode(keyOf(order[i]!)), value.slice());
  const putSeconds = seconds(start);
  const perKey = (heapBytes() - base) / n;
  const reads = Array.from({ length: READS }, (_, i) => keyOf(order[(i * 7919) % n]!));
  start = process.hrtime.bigint();
  for (const key of reads) map.get(decoder.decode(key))?.slice();
  const getSeconds = seconds(start);
  return { 'put (encode + apply)': rate(n, putSeconds), 'get (1 key)': rate(READS, getSeconds), 'heap per key': `${Math.round(perKey)} B` };
}

for (const n of sizes) {
  const order = shuffled(n);
  const store = benchStore(n, order);
  gc();
  const anchor = benchMap(n, order);
  console.log(`\n${n.toLocaleString('en-US')} keys, ${VALUE_BYTES}-byte values (keel store | anchor: plain Map), CRC-32C ${crc32cImplementation}`);
  for (const [name, figure] of Object.entries(store)) {
    const base = anchor[name];
    const ratio = base === undefined ? '' : `  | ${base}  ratio ${(parseFloat(figure.replace(/,/g, '')) / parseFloat(base.replace(/,/g, ''))).toFixed(2)}`;
    console.log(`  ${name.padEnd(31)} ${figure}${ratio}`);
  }
}
