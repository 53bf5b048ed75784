/**
 * The built-in KV workload: a put/get/txn/watch mix against keel or any etcd
 * over the v3 JSON gateway (POST /v3/kv/put, /v3/kv/range, /v3/kv/txn,
 * /v3/watch), values of a set size, a key space of a set count, keys drawn
 * uniformly, zipfian (s = 0.99, as YCSB) or all from one hot key. Each
 * request is tagged with its operation (`http_req_duration{name:kv_put}`).
 * A watch opens a watch stream on the key, puts a fresh value and times the
 * put-to-event latency (`kv_watch_event_latency`). The gRPC transport is not
 * in it yet (see docs/load.md).
 *
 *   import { kvWorkload } from 'keel/load';
 *   export const options = { vus: 50, duration: '1m' };
 *   export default kvWorkload({ endpoint: 'http://127.0.0.1:2379', mix: { put: 0.2, get: 0.7, txn: 0.1 }, keys: 10000, valueBytes: 256, distribution: 'zipfian' });
 */
import { badInput } from '../errors.js';
import type { HttpResponse, RequestParams } from '../http.js';
import type { HttpStream } from '../http-stream.js';
import type { VU } from '../vu.js';

/** Keys in one workload's key space (the zipfian table holds one number per key). */
const KEYS_MAX = 10_000_000;
const VALUE_BYTES_MAX = 1024 * 1024;
const ZIPF_EXPONENT = 0.99;

export type KeyDistribution = 'uniform' | 'zipfian' | 'hot';

export interface KvWorkloadOptions {
  /**
   * The JSON gateway's base URL (keel or etcd client URL), or several (the
   * members of a cluster): VU n then sends to entry (n - 1) mod their count,
   * as a population of clients spreads over the members.
   */
  readonly endpoint: string | readonly string[];
  /** Relative weights of the operations (default put 0.5, get 0.5, txn 0, watch 0). */
  readonly mix?: { readonly put?: number; readonly get?: number; readonly txn?: number; readonly watch?: number };
  readonly keys?: number;
  readonly valueBytes?: number;
  readonly distribution?: KeyDistribution;
  /** Key prefix (default "keel-load/"). */
  readonly prefix?: string;
}

/** The operations, in the order of the mix's draw; PATHS gives each one's gateway path (a watch's is its put's; its stream goes to WATCH_PATH). */
const OPERATIONS = ['put', 'get', 'txn', 'watch'] as const;
type Operation = (typeof OPERATIONS)[number];
const PATHS = { put: '/v3/kv/put', get: '/v3/kv/range', txn: '/v3/kv/txn', watch: '/v3/kv/put' } as const;
const MIX_DEFAULT = { put: 0.5, get: 0.5, txn: 0, watch: 0 } as const;
const WATCH_PATH = '/v3/watch';
/** The trend of a watch's put-to-event latency, in milliseconds. */
export const KV_WATCH_EVENT_LATENCY = 'kv_watch_event_latency';

/** A per-VU xorshift PRNG in [0, 1): cheap and reproducible per VU. */
export function seededRandom(seed: number): () => number {
  let state = (seed * 0x9e3779b1) >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state / 0x1_0000_0000;
  };
}

/** Picks key indexes 0..keys-1 by the distribution from a uniform draw. */
export function keyPicker(distribution: KeyDistribution, keys: number): (uniform: number) => number {
  if (distribution === 'hot') return () => 0;
  if (distribution === 'uniform') return (uniform) => Math.min(keys - 1, Math.floor(uniform * keys));
  // Zipfian: the cumulative weights 1/k^s, searched by bisection.
  const cumulative = new Float64Array(keys);
  let sum = 0;
  for (let rank = 0; rank < keys; rank++) {
    sum += 1 / Math.pow(rank + 1, ZIPF_EXPONENT);
    cumulative[rank] = sum;
  }
  return (uniform) => {
    const target = uniform * sum;
    let low = 0;
    let high = keys - 1;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (cumulative[middle]! < target) low = middle + 1;
      else high = middle;
    }
    return low;
  };
}

const base64 = (text: string): string => Buffer.from(text).toString('base64');

/** The prefix keys get unless the workload names one. */
export const KV_PREFIX_DEFAULT = 'keel-load/';

/** Key `index` of a workload's key space, as text (the workload sends it base64): to preload the keys its gets will read. */
export function kvKey(index: number, prefix = KV_PREFIX_DEFAULT): string {
  return `${prefix}${index.toString().padStart(8, '0')}`;
}

export function kvWorkload(options: KvWorkloadOptions): (vu: VU) => Promise<void> {
  const keys = options.keys ?? 1000;
  const valueBytes = options.valueBytes ?? 128;
  if (!Number.isInteger(keys) || keys < 1 || keys > KEYS_MAX) throw badInput(`kvWorkload.keys: 1 to ${KEYS_MAX}`);
  if (!Number.isInteger(valueBytes) || valueBytes < 0 || valueBytes > VALUE_BYTES_MAX) throw badInput(`kvWorkload.valueBytes: 0 to ${VALUE_BYTES_MAX}`);
  const weights = mixWeights(options.mix);
  const total = weights.reduce((sum, weight) => sum + weight, 0);
  const pick = keyPicker(options.distribution ?? 'uniform', keys);
  const prefix = options.prefix ?? KV_PREFIX_DEFAULT;
  const endpoints = (typeof options.endpoint === 'string' ? [options.endpoint] : options.endpoint).map((endpoint) => endpoint.replace(/\/$/, ''));
  if (endpoints.length === 0) throw badInput('kvWorkload.endpoint: at least one URL');
  const urls = OPERATIONS.map((operation) => endpoints.map((endpoint) => `${endpoint}${PATHS[operation]}`));
  const watchUrls = endpoints.map((endpoint) => `${endpoint}${WATCH_PATH}`);
  const value = base64('v'.repeat(valueBytes));
  const encodedKeys = new Map<number, string>();
  const keyOf = (index: number): string => {
    let encoded = encodedKeys.get(index);
    if (encoded === undefined) {
      encoded = base64(kvKey(index, prefix));
      if (encodedKeys.size < 100_000) encodedKeys.set(index, encoded);
    }
    return encoded;
  };
  const randoms = new WeakMap<VU, () => number>();
  const params = OPERATIONS.map((operation) => ({ headers: { 'content-type': 'application/json' }, tags: { name: `kv_${operation}` } }));
  const checks = OPERATIONS.map((operation) => ({ [`kv ${operation} ok`]: (response: HttpResponse) => response.status === 200 }));
  const watch: WatchSettings = {
    streamParams: { headers: { 'content-type': 'application/json' }, tags: { name: 'kv_watch_stream' } },
    putParams: params[OPERATIONS.indexOf('watch')]!,
    check: { 'kv watch ok': (outcome) => outcome.put?.status === 200 && outcome.failure === undefined },
    valueBytes,
  };
  return async (vu) => {
    let random = randoms.get(vu);
    if (random === undefined) {
      random = seededRandom(vu.id);
      randoms.set(vu, random);
    }
    const operation = drawOperation(weights, random() * total);
    const key = keyOf(pick(random()));
    const endpoint = (vu.id - 1) % endpoints.length;
    const name = OPERATIONS[operation]!;
    if (name === 'watch') return watchIteration(vu, watchUrls[endpoint]!, urls[operation]![endpoint]!, key, watch, random);
    let body: string;
    switch (name) {
      case 'put':
        body = `{"key":"${key}","value":"${value}"}`;
        break;
      case 'get':
        body = `{"key":"${key}"}`;
        break;
      case 'txn':
        // Create-if-absent, else read: a compare on the key's version.
        body = `{"compare":[{"key":"${key}","target":"VERSION","result":"EQUAL","version":"0"}],"success":[{"requestPut":{"key":"${key}","value":"${value}"}}],"failure":[{"requestRange":{"key":"${key}"}}]}`;
        break;
    }
    const response = await vu.http.post(urls[operation]![endpoint]!, body, params[operation]);
    vu.check(response, checks[operation]!);
  };
}

/** The mix's weights in OPERATIONS order, each checked by name: a typo'd or negative weight is refused, not silently read as 0. */
function mixWeights(mix: KvWorkloadOptions['mix']): number[] {
  for (const name of Object.keys(mix ?? {})) {
    if (!(OPERATIONS as readonly string[]).includes(name)) throw badInput(`kvWorkload.mix.${name}: not an operation (${OPERATIONS.join(', ')})`);
  }
  const weights = OPERATIONS.map((operation: Operation) => {
    const weight: unknown = mix?.[operation] ?? MIX_DEFAULT[operation];
    if (typeof weight !== 'number' || !Number.isFinite(weight) || weight < 0) throw badInput(`kvWorkload.mix.${operation}: a finite non-negative weight, not ${String(weight)}`);
    return weight;
  });
  if (!weights.some((weight) => weight > 0)) throw badInput('kvWorkload.mix: non-negative weights, not all zero');
  return weights;
}

/** The operation whose slice of [0, total) holds `draw`; zero-weight operations have empty slices. */
function drawOperation(weights: readonly number[], draw: number): number {
  let bound = weights[0]!;
  let operation = 0;
  while (draw >= bound && operation < weights.length - 1) bound += weights[++operation]!;
  return operation;
}

interface WatchOutcome {
  /** The put's response, when the watch got as far as putting. */
  readonly put: HttpResponse | undefined;
  /** Why the watch failed (its stream's error kind), or undefined. */
  readonly failure: string | undefined;
}

interface WatchSettings {
  readonly streamParams: RequestParams;
  readonly putParams: RequestParams;
  readonly check: Record<string, (outcome: WatchOutcome) => boolean>;
  readonly valueBytes: number;
}

/**
 * One watch: open a watch stream on the key, wait for its `created`
 * answer, put a fresh value and time from just before the put to the event
 * carrying it (the event may arrive before the put's response, so the
 * stream is read while the put is in flight). The stream counts as one
 * request (`name:kv_watch_stream`), failed with `watch-timeout`,
 * `watch-ended`, `watch-not-created` or `watch-canceled` when no event came;
 * the put is a request of its own (`name:kv_watch`). Every wait is bounded by
 * the stream's timeout (the VU's request timeout).
 */
async function watchIteration(vu: VU, watchUrl: string, putUrl: string, key: string, settings: WatchSettings, random: () => number): Promise<void> {
  const stream = await vu.http.stream('POST', watchUrl, `{"create_request":{"key":"${key}"}}`, settings.streamParams);
  let outcome: WatchOutcome = { put: undefined, failure: undefined };
  try {
    outcome = await watchedPut(vu, stream, putUrl, key, settings, random);
  } finally {
    stream.close(outcome.failure);
  }
  vu.check(outcome, settings.check);
}

async function watchedPut(vu: VU, stream: HttpStream, putUrl: string, key: string, settings: WatchSettings, random: () => number): Promise<WatchOutcome> {
  // A refused stream (status 0 or >= 400) is already a failed request: no second failure for it.
  if (stream.status !== 200) return { put: undefined, failure: undefined };
  const created = await stream.line();
  if (created === undefined) return { put: undefined, failure: streamFailure(stream) };
  if (!isCreated(created)) return { put: undefined, failure: 'watch-not-created' };
  // Unique per watch (VU ids repeat across workers, hence the random part), so another VU's put on the key is not taken for this one's.
  const marker = `watch/${vu.id}/${vu.iteration}/${Math.floor(random() * 0x1_0000_0000).toString(16)}/`;
  const value = base64(marker.padEnd(settings.valueBytes, 'v'));
  const startMs = vu.nowMs();
  const arrival = eventArrival(vu, stream, value);
  // Awaited below; the interrupt that would reject it also throws out of the put, so it must not reject unobserved meanwhile.
  arrival.catch(() => undefined);
  const put = await vu.http.post(putUrl, `{"key":"${key}","value":"${value}"}`, settings.putParams);
  // A failed put is counted as its own failed request; the stream did nothing wrong.
  if (put.status !== 200) return { put, failure: undefined };
  const arrivedAt = await arrival;
  if (typeof arrivedAt === 'string') return { put, failure: arrivedAt };
  vu.trend(KV_WATCH_EVENT_LATENCY, arrivedAt - startMs);
  return { put, failure: undefined };
}

/** When the event carrying `value` arrived (the VU's clock), or the failure kind if the stream ended, failed or timed out first. */
async function eventArrival(vu: VU, stream: HttpStream, value: string): Promise<number | string> {
  // Bounded by the stream's timeout: it ends the stream, and line() then returns undefined.
  for (let line = await stream.line(); line !== undefined; line = await stream.line()) {
    if (line.includes(`"value":"${value}"`)) return vu.nowMs();
    if (line.includes('"canceled":true')) return 'watch-canceled';
  }
  return streamFailure(stream);
}

function streamFailure(stream: HttpStream): string {
  if (stream.error === undefined) return 'watch-ended';
  return stream.error === 'ETIMEDOUT' ? 'watch-timeout' : stream.error;
}

function isCreated(line: string): boolean {
  try {
    return (JSON.parse(line) as { result?: { created?: unknown } }).result?.created === true;
  } catch {
    return false;
  }
}
