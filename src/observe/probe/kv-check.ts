/**
 * A KV round trip through etcd's v3 JSON gateway (keel members, keel up's
 * gateway, etcd): put a fresh random value under `prefix + name`, range the
 * key back and compare (a value written later by another prober, at a
 * higher revision, counts as a pass), optionally delete it. The range is linearizable (the
 * gateway's default), so a pass means a quorum stored the write and the
 * endpoint serves it back.
 */
import { randomBytes } from 'node:crypto';
import type { KvCheckSpec } from './config.js';
import { exchange } from './http-client.js';
import { describeError, fail, pass, type Outcome } from './result.js';

interface KvCall {
  readonly endpoint: string;
  readonly timeoutMs: number;
  readonly signal: AbortSignal;
}

export async function runKvCheck(spec: KvCheckSpec, name: string, timeoutMs: number, signal: AbortSignal): Promise<Outcome> {
  const call: KvCall = { endpoint: spec.endpoint, timeoutMs, signal };
  const key = Buffer.from(`${spec.prefix}${name}`).toString('base64');
  const value = `${new Date().toISOString()} ${randomBytes(12).toString('hex')}`;
  const encoded = Buffer.from(value).toString('base64');
  const put = await postJson(call, '/v3/kv/put', { key, value: encoded });
  if (typeof put === 'string') return fail(put);
  const putRevision = Number((put as { header?: { revision?: string | number } }).header?.revision);
  const range = await postJson(call, '/v3/kv/range', { key });
  if (typeof range === 'string') return fail(range);
  const read = (range as { kvs?: { value?: string; mod_revision?: string | number }[] }).kvs?.[0];
  // Another prober with the same check name (a second `keel probe serve`, a
  // pipeline run) may have written the key after this put: a later revision
  // is a newer write, not a lost one.
  const overwritten = read !== undefined && Number.isFinite(putRevision) && Number(read.mod_revision) > putRevision;
  if (read?.value !== encoded && !overwritten) {
    const seen = read?.value === undefined ? 'no value' : JSON.stringify(Buffer.from(read.value, 'base64').toString('utf8').slice(0, 80));
    return fail(`range ${spec.prefix}${name} returned ${seen} (mod_revision ${String(read?.mod_revision)}), expected the value just put at revision ${putRevision} (${JSON.stringify(value)})`);
  }
  if (spec.delete) {
    const deleted = await postJson(call, '/v3/kv/deleterange', { key });
    if (typeof deleted === 'string') return fail(deleted);
  }
  return pass();
}

/** The parsed JSON answer, or a failure message naming the URL. */
async function postJson(call: KvCall, path: string, body: unknown): Promise<unknown> {
  const url = new URL(path, call.endpoint).href;
  try {
    const response = await exchange({ url, method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), timeoutMs: call.timeoutMs, signal: call.signal });
    if (response.status !== 200) return `${url}: HTTP ${response.status} ${response.body.slice(0, 200)}`;
    try {
      return JSON.parse(response.body) as unknown;
    } catch {
      return `${url}: answer is not JSON: ${response.body.slice(0, 200)}`;
    }
  } catch (error) {
    if (call.signal.aborted) throw error;
    return `${url}: ${describeError(error)}`;
  }
}
