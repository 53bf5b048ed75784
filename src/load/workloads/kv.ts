/**
 * The built-in KV workload: a put/get/txn mix against keel or any etcd over
 * the v3 JSON gateway (POST /v3/kv/put, /v3/kv/range, /v3/kv/txn), values of
 * a set size, a key space of a set count, keys drawn uniformly, zipfian
 * (s = 0.99, as YCSB) or all from one hot key. Each request is tagged with
 * its operation (`http_req_duration{name:kv_put}`). Watches and the gRPC
 * transport are not in it yet (see docs/load.md).
 *
 *   import { kvWorkload } from 'keel/load';
 *   export const options = { vus: 50, duration: '1m' };
 *   export default kvWorkload({ endpoint: 'http://127.0.0.1:2379', mix: { put: 0.2, get: 0.7, txn: 0.1 }, keys: 10000, valueBytes: 256, distribution: 'zipfian' });
 */
import { badInput } from '../errors.js';
import type { HttpResponse } from '../http.js';
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
  /** Relative weights of the operations. */
  readonly mix?: { readonly put?: number; readonly get?: number; readonly txn?: number };
  readonly keys?: number;
  readonly valueBytes?: number;
  readonly distribution?: KeyDistribution;
  /** Key prefix (default "keel-load/"). */
  readonly prefix?: string;
}

/** The operations, in the order of the mix's draw; PATHS gives each one's gateway path. */
const OPERATIONS = ['put', 'get', 'txn'] as const;
const PATHS = { put: '/v3/kv/put', get: '/v3/kv/range', txn: '/v3/kv/txn' } as const;

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
  const mix = { put: options.mix?.put ?? 0.5, get: options.mix?.get ?? 0.5, txn: options.mix?.txn ?? 0 };
  const total = mix.put + mix.get + mix.txn;
  if (!(total > 0) || Object.values(mix).some((weight) => weight < 0)) throw badInput('kvWorkload.mix: non-negative weights, not all zero');
  const pick = keyPicker(options.distribution ?? 'uniform', keys);
  const prefix = options.prefix ?? KV_PREFIX_DEFAULT;
  const endpoints = (typeof options.endpoint === 'string' ? [options.endpoint] : options.endpoint).map((endpoint) => endpoint.replace(/\/$/, ''));
  if (endpoints.length === 0) throw badInput('kvWorkload.endpoint: at least one URL');
  const urls = OPERATIONS.map((operation) => endpoints.map((endpoint) => `${endpoint}${PATHS[operation]}`));
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
  return async (vu) => {
    let random = randoms.get(vu);
    if (random === undefined) {
      random = seededRandom(vu.id);
      randoms.set(vu, random);
    }
    const draw = random() * total;
    const operation = draw < mix.put ? 0 : draw < mix.put + mix.get ? 1 : 2;
    const key = keyOf(pick(random()));
    let body: string;
    switch (OPERATIONS[operation]) {
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
    const response = await vu.http.post(urls[operation]![(vu.id - 1) % endpoints.length]!, body, params[operation]);
    vu.check(response, checks[operation]!);
  };
}
