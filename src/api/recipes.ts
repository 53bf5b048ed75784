import type { KeelNode } from '../node/keel-node.js';
import { prefixRangeEnd } from '../store/bytes.js';
import { stamp } from '../store/command.js';
import type { KeyValue, RangeRequest, ResponseHeader, TxnRequest, TxnResponse } from '../store/types.js';
import { BadRequestError, ElectionNoLeaderError, ElectionNotLeaderError, InterruptedError } from './errors.js';

/**
 * etcd's v3lock and v3election services: the lock and election recipes of
 * etcd's client library (clientv3/concurrency), run by the member on the
 * caller's behalf, over the same KV, lease and watch machinery a client
 * would use. Ownership is a key `<name>/<lease id in hex>` attached to the
 * caller's lease; the owner is the key with the lowest create revision
 * under `<name>/`; a waiter waits for every key created before its own to be
 * deleted (released, or gone with its lease). So a lock or a leadership ends
 * when its lease ends, and a crashed holder frees it after its TTL.
 *
 * Waiting is bounded by the request's deadline when it has one, and always
 * by the caller staying connected (`signal`) and the member running.
 */

/** An election's leadership, as LeaderKey. */
export interface LeaderKey {
  name: Uint8Array;
  key: Uint8Array;
  rev: number;
  lease: bigint;
}

const encoder = new TextEncoder();

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

function prefixOf(name: Uint8Array): Uint8Array {
  if (name.length === 0) throw new BadRequestError('name must not be empty');
  return concat(name, encoder.encode('/'));
}

function ownerKey(prefix: Uint8Array, lease: bigint): Uint8Array {
  if (lease <= 0n) throw new BadRequestError('a lease is required: ownership lasts as long as the lease');
  return concat(prefix, encoder.encode(lease.toString(16)));
}

/** The oldest key under the prefix: the owner. */
function firstCreated(prefix: Uint8Array): RangeRequest {
  return { key: prefix, rangeEnd: prefixRangeEnd(prefix), sortOrder: 'ASCEND', sortTarget: 'CREATE', limit: 1 };
}

/** `authRevision`: the auth stamp of the caller's guardRecipe (store/command.ts, AuthStamp). */
async function txn(node: KeelNode, request: TxnRequest, timeoutMs: number, authRevision: number | undefined): Promise<TxnResponse> {
  const response = await node.txn(request, false, timeoutMs, authRevision);
  return (response as { type: 'txn'; response: TxnResponse }).response;
}

function rangeKvs(response: TxnResponse, index: number): KeyValue[] {
  const op = response.responses[index];
  return op?.type === 'range' ? op.response.kvs : [];
}

/** Resolves at the first DELETE of `key` from `fromRevision` on (or a compaction that hides it: the caller looks again). */
function waitForDelete(node: KeelNode, key: Uint8Array, fromRevision: number, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let settled = false;
    const finish = (error?: unknown): void => {
      if (settled) return;
      settled = true;
      stream.close();
      unregister();
      signal.removeEventListener('abort', onAbort);
      if (error) reject(error);
      else resolve();
    };
    const stream = node.watchHub.open({
      send: (response, bytes) => {
        queueMicrotask(() => stream.released(bytes));
        if (response.canceled || response.events.some((event) => event.type === 'DELETE')) finish();
      },
    });
    const onAbort = (): void => finish(signal.reason ?? new InterruptedError());
    const unregister = node.onStop(() => finish(new InterruptedError()));
    signal.addEventListener('abort', onAbort);
    if (signal.aborted) return onAbort();
    stream.create({ key, startRevision: fromRevision, filters: ['NOPUT'] });
  });
}

/** etcd's waitDeletes: returns once no key under `prefix` was created at or before `maxCreateRevision`. */
async function waitDeletes(node: KeelNode, prefix: Uint8Array, maxCreateRevision: number, signal: AbortSignal, timeoutMs: number): Promise<ResponseHeader> {
  for (;;) {
    if (signal.aborted) throw signal.reason ?? new InterruptedError();
    const newest = await node.range(
      { key: prefix, rangeEnd: prefixRangeEnd(prefix), sortOrder: 'DESCEND', sortTarget: 'CREATE', limit: 1, maxCreateRevision },
      false,
      timeoutMs,
    );
    const blocking = newest.kvs[0];
    if (!blocking) return newest.header;
    await waitForDelete(node, blocking.key, newest.header.revision + 1, signal);
  }
}

/** Takes ownership of `<prefix><lease>` (creating it with `value`), then waits until it is the oldest; on failure the key is deleted. */
async function acquire(node: KeelNode, prefix: Uint8Array, lease: bigint, value: Uint8Array, signal: AbortSignal, timeoutMs: number, authRevision: number | undefined): Promise<{ header: ResponseHeader; key: Uint8Array; rev: number }> {
  const key = ownerKey(prefix, lease);
  const response = await txn(
    node,
    {
      compare: [{ result: 'EQUAL', target: 'CREATE', key, createRevision: 0 }],
      success: [{ type: 'put', request: { key, value, lease } }, { type: 'range', request: firstCreated(prefix) }],
      failure: [{ type: 'range', request: { key } }, { type: 'range', request: firstCreated(prefix) }],
    },
    timeoutMs,
    authRevision,
  );
  const rev = response.succeeded ? response.header.revision : (rangeKvs(response, 0)[0]?.createRevision ?? response.header.revision);
  const owner = rangeKvs(response, 1)[0];
  if (owner && owner.createRevision === rev) return { header: response.header, key, rev };
  try {
    const header = await waitDeletes(node, prefix, rev - 1, signal, timeoutMs);
    return { header, key, rev };
  } catch (error) {
    // As etcd's recipe: a waiter that gives up removes its key, so it never holds the lock later by surprise.
    // Unstamped: removing the key it just created must not fail on an auth change made while it waited.
    await node.propose({ type: 'deleteRange', request: { key } }, timeoutMs).catch(() => {});
    throw error;
  }
}

export async function lock(node: KeelNode, name: Uint8Array, lease: bigint, signal: AbortSignal, timeoutMs: number, authRevision?: number): Promise<{ header: ResponseHeader; key: Uint8Array }> {
  const { header, key } = await acquire(node, prefixOf(name), lease, new Uint8Array(0), signal, timeoutMs, authRevision);
  return { header, key };
}

export async function unlock(node: KeelNode, key: Uint8Array, timeoutMs: number, authRevision?: number): Promise<{ header: ResponseHeader }> {
  if (key.length === 0) throw new BadRequestError('key must not be empty');
  const response = await node.propose({ type: 'deleteRange', request: { key }, ...stamp(authRevision) }, timeoutMs);
  return { header: (response as { type: 'deleteRange'; response: { header: ResponseHeader } }).response.header };
}

export async function campaign(node: KeelNode, name: Uint8Array, lease: bigint, value: Uint8Array, signal: AbortSignal, timeoutMs: number, authRevision?: number): Promise<{ header: ResponseHeader; leader: LeaderKey }> {
  const prefix = prefixOf(name);
  const key = ownerKey(prefix, lease);
  const existing = await node.range({ key }, false, timeoutMs);
  const current = existing.kvs[0];
  if (current && !sameBytes(current.value, value)) {
    // Campaigning again with the same lease is the same candidacy: it keeps its place and takes the new value.
    await proclaim(node, { name, key, rev: current.createRevision, lease }, value, timeoutMs, authRevision);
  }
  const { header, rev } = await acquire(node, prefix, lease, value, signal, timeoutMs, authRevision);
  return { header, leader: { name, key, rev, lease } };
}

export async function proclaim(node: KeelNode, leader: LeaderKey, value: Uint8Array, timeoutMs: number, authRevision?: number): Promise<{ header: ResponseHeader }> {
  const response = await txn(
    node,
    { compare: [{ result: 'EQUAL', target: 'CREATE', key: leader.key, createRevision: leader.rev }], success: [{ type: 'put', request: { key: leader.key, value, ignoreLease: true } }], failure: [] },
    timeoutMs,
    authRevision,
  );
  if (!response.succeeded) throw new ElectionNotLeaderError();
  return { header: response.header };
}

export async function resign(node: KeelNode, leader: LeaderKey, timeoutMs: number, authRevision?: number): Promise<{ header: ResponseHeader }> {
  const response = await txn(
    node,
    { compare: [{ result: 'EQUAL', target: 'CREATE', key: leader.key, createRevision: leader.rev }], success: [{ type: 'deleteRange', request: { key: leader.key } }], failure: [] },
    timeoutMs,
    authRevision,
  );
  return { header: response.header };
}

export async function leader(node: KeelNode, name: Uint8Array, timeoutMs: number): Promise<{ header: ResponseHeader; kv: KeyValue }> {
  const response = await node.range(firstCreated(prefixOf(name)), false, timeoutMs);
  const kv = response.kvs[0];
  if (!kv) throw new ElectionNoLeaderError();
  return { header: response.header, kv };
}

/**
 * Observe: the current leader, then every change of leader or of its value,
 * in order, until the caller goes away. Each change of the election's keys
 * re-reads the leader from the member's applied state (serializable, as the
 * events themselves are), and only a different (key, mod revision) is sent.
 */
export function observe(node: KeelNode, name: Uint8Array, emit: (update: { header: ResponseHeader; kv: KeyValue }) => void, signal: AbortSignal): Promise<void> {
  const prefix = prefixOf(name);
  return new Promise<void>((resolve) => {
    let last = '';
    const check = (): void => {
      if (signal.aborted) return;
      let response;
      try {
        response = node.serializableRange(firstCreated(prefix));
      } catch {
        return;
      }
      const kv = response.kvs[0];
      const mark = kv ? `${Buffer.from(kv.key).toString('hex')}@${kv.modRevision}` : '';
      if (!kv || mark === last) return;
      last = mark;
      emit({ header: response.header, kv });
    };
    const stream = node.watchHub.open({
      send: (response, bytes) => {
        queueMicrotask(() => stream.released(bytes));
        if (response.events.length > 0) check();
      },
    });
    const finish = (): void => {
      stream.close();
      unregister();
      resolve();
    };
    const unregister = node.onStop(finish);
    signal.addEventListener('abort', finish, { once: true });
    stream.create({ key: prefix, rangeEnd: prefixRangeEnd(prefix) });
    check();
  });
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}
