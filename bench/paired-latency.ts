/**
 * One client's latency on two running systems, in alternating windows: A and
 * B are both started (3 members each, fresh data directories, fsync on,
 * stopped by pid here) and one gRPC client sends one call at a time, for
 * `--window-ms` to A, then as long to B, for `--rounds` rounds (A first in
 * even rounds, B first in odd ones), after 3 rounds of warm-up. Each system
 * is either `keel` (this checkout's build), `etcd` (Debian's etcd-server)
 * or the path of another build's dist/src/cli/main.js (a before and after).
 *
 * Why alternate: on this shared 2-core machine a single client's latency
 * moves by 2x from one minute to the next (other jobs, the host), more than
 * most changes being measured; two whole runs one after the other compare
 * two moments as much as two builds. Windows a second or two apart see the
 * same machine, so the per-round ratio B/A (of each window's p50) is the
 * figure: its median, its range, and in how many rounds B was faster. The
 * idle system meanwhile only heartbeats.
 *
 * Usage: tsx bench/paired-latency.ts [--a keel] [--b etcd|keel|PATH] [--op put|range-serializable|range-linearizable]
 *        [--to leader|follower] [--rounds 16] [--window-ms 1500] [--value-bytes 100] [--keys 10000]
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { Message } from '../src/api/grpc/codec.js';
import { type GrpcConns, openConns } from './lib/grpc-conns.js';
import { markdownTable } from './lib/table.js';
import { leaderEndpoint, startTarget, type Target } from './lib/targets.js';

const WARMUP_ROUNDS = 3;
const CALL_TIMEOUT_MS = 5_000;
const ROUNDS_MAX = 1_000;
const WINDOW_MS_MAX = 60_000;
/** Calls per window at most: bounds a window on a system far faster than expected. */
const CALLS_PER_WINDOW_MAX = 200_000;
const RANGE_KEYS_MAX = 2_000;

const { values: args } = parseArgs({
  options: {
    a: { type: 'string', default: 'keel' },
    b: { type: 'string', default: 'etcd' },
    op: { type: 'string', default: 'put' },
    to: { type: 'string', default: 'leader' },
    rounds: { type: 'string', default: '16' },
    'window-ms': { type: 'string', default: '1500' },
    'value-bytes': { type: 'string', default: '100' },
    keys: { type: 'string', default: '10000' },
  },
});

function usage(message: string): never {
  console.error(`bench/paired-latency: ${message}`);
  process.exit(1);
}

function bounded(name: string, text: string, max: number): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1 || value > max) usage(`--${name} must be an integer in [1, ${max}]`);
  return value;
}

type Op = 'put' | 'range-serializable' | 'range-linearizable';
const op = args.op as Op;
if (!['put', 'range-serializable', 'range-linearizable'].includes(op)) usage(`unknown --op ${args.op}`);
if (args.to !== 'leader' && args.to !== 'follower') usage('--to is leader or follower');
const rounds = bounded('rounds', args.rounds, ROUNDS_MAX);
const windowMs = bounded('window-ms', args['window-ms'], WINDOW_MS_MAX);
const valueBytes = bounded('value-bytes', args['value-bytes'], 1_500_000);
const keyCount = bounded('keys', args.keys, 1_000_000);

/** Starts one side: `keel`, `etcd`, or another build's main.js. */
async function start(spec: string): Promise<Target> {
  const target = spec === 'etcd' ? await startTarget('etcd', undefined) : spec === 'keel' ? await startTarget('keel', undefined) : await startTarget('keel', undefined, { bin: resolve(spec) });
  if (target === undefined) usage(`could not start ${spec}`);
  return target;
}

/** The member the client talks to: the leader, or the first member that is not. */
async function memberFor(target: Target): Promise<string> {
  const leader = await leaderEndpoint(target.endpoints);
  if (args.to === 'leader') return leader;
  return target.endpoints.find((endpoint) => endpoint !== leader)!;
}

const value = Buffer.alloc(valueBytes, 0x61);
/** A range reads keys written before the rounds: the first RANGE_KEYS_MAX of them. */
const keys = Array.from({ length: op === 'put' ? keyCount : Math.min(keyCount, RANGE_KEYS_MAX) }, (_, index) => Buffer.from(`paired/${index.toString().padStart(8, '0')}`));
let nextKey = 0;

function call(conns: GrpcConns): Promise<Message> {
  const key = keys[nextKey++ % keys.length]!;
  if (op === 'put') return conns.kv(0, 'Put', { key, value }, CALL_TIMEOUT_MS);
  return conns.kv(0, 'Range', { key, serializable: op === 'range-serializable' }, CALL_TIMEOUT_MS);
}

/** One window of calls, one at a time; returns their latencies in ms. */
async function window(conns: GrpcConns): Promise<number[]> {
  const latencies: number[] = [];
  const end = performance.now() + windowMs;
  while (performance.now() < end && latencies.length < CALLS_PER_WINDOW_MAX) {
    const started = performance.now();
    await call(conns);
    latencies.push(performance.now() - started);
  }
  return latencies;
}

function quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))]!;
}

const sorted = (values: readonly number[]): number[] => [...values].sort((x, y) => x - y);

const sides = [
  { name: 'A', spec: args.a },
  { name: 'B', spec: args.b },
] as const;
const targets: Target[] = [];
const stopAll = async (): Promise<void> => {
  await Promise.all(targets.map((target) => target.stop().catch(() => {})));
};
process.once('SIGINT', () => void stopAll().then(() => process.exit(130)));

try {
  for (const side of sides) targets.push(await start(side.spec));
  const conns = await Promise.all(targets.map(async (target) => openConns([await memberFor(target)], 1)));
  if (op !== 'put') for (const connection of conns) for (const key of keys) await connection.kv(0, 'Put', { key, value }, CALL_TIMEOUT_MS);
  for (let round = 0; round < WARMUP_ROUNDS; round++) for (const connection of conns) await window(connection);
  const all: number[][] = [[], []];
  const ratios: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? [0, 1] : [1, 0];
    const p50s: number[] = [0, 0];
    for (const index of order) {
      const latencies = await window(conns[index]!);
      all[index]!.push(...latencies);
      p50s[index] = quantile(sorted(latencies), 0.5);
    }
    ratios.push(p50s[1]! / p50s[0]!);
    console.error(`round ${round + 1}/${rounds}: A p50 ${p50s[0]!.toFixed(3)} ms, B p50 ${p50s[1]!.toFixed(3)} ms, B/A ${(p50s[1]! / p50s[0]!).toFixed(2)}`);
  }
  for (const connection of conns) connection.close();
  const rows = sides.map((side, index) => {
    const latencies = sorted(all[index]!);
    const mean = latencies.reduce((sum, x) => sum + x, 0) / latencies.length;
    return [side.name, targets[index]!.describe, String(latencies.length), quantile(latencies, 0.5).toFixed(3), quantile(latencies, 0.9).toFixed(3), quantile(latencies, 0.99).toFixed(3), mean.toFixed(3), (1000 / mean).toFixed(0)];
  });
  const ratioSorted = sorted(ratios);
  console.log(`\n${op} from one client (one call at a time) to the ${args.to}, ${valueBytes}-byte values, ${rounds} rounds of ${windowMs} ms per side, alternating\n`);
  console.log(markdownTable(['side', 'system', 'calls', 'p50 ms', 'p90 ms', 'p99 ms', 'mean ms', 'calls/s'], rows));
  console.log(
    `\nper-round p50 ratio B/A: median ${quantile(ratioSorted, 0.5).toFixed(3)}, range ${ratioSorted[0]!.toFixed(2)}-${ratioSorted.at(-1)!.toFixed(2)}, B faster in ${ratios.filter((ratio) => ratio < 1).length} of ${rounds} rounds`,
  );
} finally {
  await stopAll();
}
