import type { KeelNode } from '../../node/keel-node.js';
import type { AuthInfo } from '../../store/auth-state.js';
import type { Access } from '../../store/auth-permissions.js';
import { prefixRangeEnd } from '../../store/bytes.js';
import type { DeleteRangeRequest, PutRequest, RangeRequest, TxnRequest } from '../../store/types.js';

/**
 * The permission checks of every client call, over the member's applied
 * auth state (store/auth-state.ts), shared by gRPC and the JSON gateway.
 * They follow etcd's: reads need READ on the exact range, writes WRITE, a
 * prev_kv READ too, a txn every compare and every op (nested ones too), a
 * put with a lease WRITE on every key already on that lease, LeaseRevoke
 * WRITE on every key it would delete, compaction and the admin calls the
 * root role. With auth off every check passes and tokens are ignored.
 *
 * Where keel differs from etcd: writes are checked on the member that
 * receives them, before proposing, against its applied auth state (etcd
 * checks again when it applies the entry). A permission revoked between
 * the check and the apply can let that one write through.
 */

/** A call's credentials: the token, resolved to a user only when a check needs it (and at most once). */
export class Caller {
  readonly #node: KeelNode;
  readonly #token: string | undefined;
  #info: Promise<AuthInfo | undefined> | undefined;

  constructor(node: KeelNode, token: string | undefined) {
    this.#node = node;
    this.#token = token === '' ? undefined : token;
  }

  /** Who is calling; undefined when auth is off or no token came. Throws InvalidAuthTokenError. */
  info(): Promise<AuthInfo | undefined> {
    if (!this.#node.auth.enabled || this.#token === undefined) return Promise.resolve(undefined);
    this.#info ??= this.#node.authTokens.resolve(this.#token, this.#node.auth.revision);
    return this.#info;
  }
}

const EMPTY = new Uint8Array(0);

async function checkRange(node: KeelNode, caller: Caller, key: Uint8Array, rangeEnd: Uint8Array | undefined, access: Access): Promise<void> {
  if (!node.auth.enabled) return;
  node.auth.checkRange(await caller.info(), key, rangeEnd ?? EMPTY, access);
}

export async function guardRange(node: KeelNode, caller: Caller, request: RangeRequest): Promise<void> {
  await checkRange(node, caller, request.key, request.rangeEnd, 'READ');
}

/** etcd's checkLeasePuts: putting a key on a lease needs WRITE on every key the lease already holds. */
async function guardLeaseKeys(node: KeelNode, caller: Caller, lease: bigint | undefined): Promise<void> {
  if (!lease || lease === 0n) return;
  for (const key of node.leaseKeys(lease)) await checkRange(node, caller, key, EMPTY, 'WRITE');
}

export async function guardPut(node: KeelNode, caller: Caller, request: PutRequest): Promise<void> {
  if (!node.auth.enabled) return;
  await checkRange(node, caller, request.key, EMPTY, 'WRITE');
  if (request.prevKv) await checkRange(node, caller, request.key, EMPTY, 'READ');
  await guardLeaseKeys(node, caller, request.lease);
}

export async function guardDeleteRange(node: KeelNode, caller: Caller, request: DeleteRangeRequest): Promise<void> {
  if (!node.auth.enabled) return;
  await checkRange(node, caller, request.key, request.rangeEnd, 'WRITE');
  if (request.prevKv) await checkRange(node, caller, request.key, request.rangeEnd, 'READ');
}

/** Every compare needs READ, and every op its own check, in both branches and nested txns. */
export async function guardTxn(node: KeelNode, caller: Caller, request: TxnRequest): Promise<void> {
  if (!node.auth.enabled) return;
  for (const compare of request.compare) await checkRange(node, caller, compare.key, compare.rangeEnd, 'READ');
  for (const op of [...request.success, ...request.failure]) {
    if (op.type === 'range') await guardRange(node, caller, op.request);
    else if (op.type === 'put') await guardPut(node, caller, op.request);
    else if (op.type === 'deleteRange') await guardDeleteRange(node, caller, op.request);
    else await guardTxn(node, caller, op.request);
  }
}

/** Compaction, defragment, snapshot, hash, alarm changes, leader moves, membership changes, auth disable, user and role management. */
export async function guardAdmin(node: KeelNode, caller: Caller): Promise<void> {
  if (!node.auth.enabled) return;
  node.auth.checkAdmin(await caller.info());
}

/** LeaseRevoke deletes the lease's keys: WRITE on each (etcd's checkLeasePuts on revoke). */
export async function guardLeaseRevoke(node: KeelNode, caller: Caller, id: bigint): Promise<void> {
  await guardLeaseKeys(node, caller, id);
}

/** LeaseTimeToLive with keys lists them: READ on each. */
export async function guardLeaseKeysRead(node: KeelNode, caller: Caller, id: bigint): Promise<void> {
  if (!node.auth.enabled) return;
  for (const key of node.leaseKeys(id)) await checkRange(node, caller, key, EMPTY, 'READ');
}

/** A watch on (key, range_end) needs READ on the whole range; false (not a throw) so the stream can answer etcd's canceled response. */
export async function watchPermitted(node: KeelNode, caller: Caller, key: Uint8Array, rangeEnd: Uint8Array | undefined): Promise<boolean> {
  try {
    await checkRange(node, caller, key, rangeEnd, 'READ');
    return true;
  } catch {
    return false;
  }
}

/**
 * Lock and election keys live under `name`: etcd's recipes read and write
 * them with the caller's token, so the caller needs READ and WRITE on the
 * prefix `name`.
 */
export async function guardRecipe(node: KeelNode, caller: Caller, name: Uint8Array): Promise<void> {
  if (!node.auth.enabled) return;
  const end = prefixRangeEnd(name);
  await checkRange(node, caller, name, end, 'READ');
  await checkRange(node, caller, name, end, 'WRITE');
}

/** The token of a gRPC call: etcd reads `token` metadata, and `authorization` (what its JSON gateway forwards). */
export function tokenOfMetadata(get: (key: string) => unknown[]): string | undefined {
  for (const key of ['token', 'authorization']) {
    const value = get(key)[0];
    if (typeof value === 'string' && value !== '') return value;
  }
  return undefined;
}
