import { decodeEntry, encodeStoreCommandEntry } from '../src/node/entry-codec.js';
import { decodeCommand } from '../src/store/command.js';
import type { StoreStateMachine } from '../src/store/state-machine.js';

/**
 * The simulator's client writes, in the member's own formats: a put of a
 * register per key, in the entry envelope the member proposes
 * (entry-codec.ts), applied by the shipping store (src/store). Each value
 * is written once (values are unique per write), so a read names the
 * write it saw.
 */
const encoder = new TextEncoder();
const decoder = new TextDecoder();

export interface WriteCommand {
  readonly requestId: string;
  readonly key: string;
  readonly value: string;
}

export function encodeWrite(command: WriteCommand): Uint8Array {
  return encodeStoreCommandEntry(command.requestId, { type: 'put', request: { key: encoder.encode(command.key), value: encoder.encode(command.value) } });
}

/** A compaction up to `revision` (clients free space with it when the quota is small). */
export function encodeCompaction(requestId: string, revision: number): Uint8Array {
  return encodeStoreCommandEntry(requestId, { type: 'compact', request: { revision, physical: false } });
}

/** Keys of sweeps (options.deleteStepKeys) start with this; the registers never do. */
export const SWEEP_PREFIX = 's/';
/** Puts one sweep fill makes, in one txn. */
export const SWEEP_FILL_KEYS = 8;

/** A sweep's fill: a txn putting SWEEP_FILL_KEYS keys under SWEEP_PREFIX, named for the request. */
export function encodeSweepFill(requestId: string): Uint8Array {
  const success = Array.from({ length: SWEEP_FILL_KEYS }, (_, i) => ({
    type: 'put' as const,
    request: { key: encoder.encode(`${SWEEP_PREFIX}${requestId}.${i}`), value: encoder.encode('x') },
  }));
  return encodeStoreCommandEntry(requestId, { type: 'txn', request: { compare: [], success, failure: [] } });
}

/** A sweep's clear: one DeleteRange of every key under SWEEP_PREFIX. */
export function encodeSweepClear(requestId: string): Uint8Array {
  const end = encoder.encode(SWEEP_PREFIX);
  end[end.length - 1]!++;
  return encodeStoreCommandEntry(requestId, { type: 'deleteRange', request: { key: encoder.encode(SWEEP_PREFIX), rangeEnd: end } });
}

/** A lease grant, as the member's Lease service proposes it. */
export function encodeLeaseGrant(requestId: string, id: bigint, ttlSeconds: number): Uint8Array {
  return encodeStoreCommandEntry(requestId, { type: 'leaseGrant', request: { id, ttlSeconds } });
}

/** A revoke of an expired lease, as the leader's lease service proposes it. */
export function encodeLeaseRevoke(requestId: string, id: bigint): Uint8Array {
  return encodeStoreCommandEntry(requestId, { type: 'leaseRevoke', request: { id } });
}

/** The lease a revoke entry revokes; undefined for any other entry. */
export function decodeLeaseRevoke(data: Uint8Array): { requestId: string; id: bigint } | undefined {
  const entry = decodeEntry(data);
  if (entry.kind !== 'command') return undefined;
  const command = decodeCommand(entry.command);
  return command.type === 'leaseRevoke' ? { requestId: entry.requestId, id: command.request.id } : undefined;
}

/** Decodes a client write; undefined for any other entry (a new leader's no-op, a compaction, a lease command). */
export function decodeWrite(data: Uint8Array): WriteCommand | undefined {
  const entry = decodeEntry(data);
  if (entry.kind !== 'command') return undefined;
  const command = decodeCommand(entry.command);
  if (command.type === 'compact' || command.type === 'leaseGrant' || command.type === 'leaseRevoke') return undefined;
  if ((command.type === 'txn' || command.type === 'deleteRange') && entry.requestId.startsWith('sweep.')) return undefined;
  if (command.type !== 'put') throw new Error(`the simulator proposed no ${command.type}`);
  return { requestId: entry.requestId, key: decoder.decode(command.request.key), value: decoder.decode(command.request.value) };
}

/** A register's value in the store, or undefined if the key was never written. */
export function readRegister(store: StoreStateMachine, key: string): string | undefined {
  const found = store.range({ key: encoder.encode(key) }).kvs[0];
  return found ? decoder.decode(found.value) : undefined;
}
