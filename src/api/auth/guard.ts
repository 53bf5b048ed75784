import type { KeelNode } from '../../node/keel-node.js';
import type { AuthInfo } from '../../store/auth-state.js';
import { hopsOf, type ClientIdentity, type GrpcCallTransport } from './client-identity.js';
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
 * Writes are checked on the member that receives them, before proposing,
 * against its applied auth state. The write guards return the auth
 * revision they started from, and the command carries it
 * (store/command.ts, AuthStamp): every member refuses the entry at apply
 * when the auth state has moved past it, as etcd's auth applier does, so a
 * permission revoked between the check and the apply never lets a write
 * through.
 */

/**
 * A call's credentials: the token, resolved to a user only when a check
 * needs it, and the connection's identity. As etcd (AuthInfoFromCtx, then
 * AuthInfoFromTLS): a token wins; without one, a client certificate the
 * TLS port verified acts as the user its CommonName names. A stream
 * (Watch) keeps its Caller for its whole life, so the resolved token is
 * kept only while the auth revision stays the same: after any auth change
 * it is resolved again (a simple token then carries the new revision, a
 * JWT keeps its own and is refused as old, as in etcd).
 */
export class Caller {
  readonly #node: KeelNode;
  readonly #token: string | undefined;
  /** The identity, or how to find it on first use (see {@link identity}). */
  #identity: ClientIdentity | (() => ClientIdentity);
  #info: Promise<AuthInfo | undefined> | undefined;
  #infoRevision = 0;
  /** The user the token last resolved to (undefined until it has, or after it failed). */
  #tokenUser: string | undefined;

  /**
   * `identity` may be a function, called once on first use: a gRPC call's
   * peer and certificate cost grpc-js a proxied socket lookup (and a
   * certificate parse under TLS) on every call, about 6% of a member's busy
   * time in a profile, and most calls never ask (auth off).
   */
  constructor(node: KeelNode, token: string | undefined, identity: ClientIdentity | (() => ClientIdentity) = NO_IDENTITY) {
    this.#node = node;
    this.#token = token === '' ? undefined : token;
    this.#identity = identity;
  }

  /** The client's address and verified certificate CN (api/auth/client-identity.ts). */
  get identity(): ClientIdentity {
    if (typeof this.#identity === 'function') this.#identity = this.#identity();
    return this.#identity;
  }

  /** Who is calling; undefined when auth is off or neither a token nor a verified certificate CN came. Throws InvalidAuthTokenError. */
  info(): Promise<AuthInfo | undefined> {
    const auth = this.#node.auth;
    if (!auth.enabled) return Promise.resolve(undefined);
    if (this.#token === undefined) {
      const name = this.identity.commonName;
      return Promise.resolve(name === undefined ? undefined : { name, revision: auth.revision });
    }
    if (this.#info === undefined || this.#infoRevision !== auth.revision) {
      this.#infoRevision = auth.revision;
      this.#info = this.#node.authTokens.resolve(this.#token, auth.revision).then(
        (info) => {
          this.#tokenUser = info.name;
          return info;
        },
        (error: unknown) => {
          this.#tokenUser = undefined;
          throw error;
        },
      );
    }
    return this.#info;
  }

  /**
   * The user this caller acts as, as far as known without waiting: the
   * certificate's CN without a token, else the user its token last resolved
   * to. Used to re-check open watches synchronously when the auth revision
   * moves (api/auth/watch-revocation.ts).
   */
  knownUser(): string | undefined {
    return this.#token === undefined ? this.identity.commonName : this.#tokenUser;
  }
}

const NO_IDENTITY: ClientIdentity = { address: 'unknown', commonName: undefined };

const EMPTY = new Uint8Array(0);

/**
 * The stamp of a write: the auth revision read before its first check. A
 * change during the (asynchronous) checks leaves the stamp older than the
 * state, so the apply refuses the write rather than trusting a mixed check.
 */
function stampOf(node: KeelNode): number {
  return node.auth.revision;
}

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

/** Returns the write's auth stamp (see stampOf). */
export async function guardPut(node: KeelNode, caller: Caller, request: PutRequest): Promise<number> {
  const stamp = stampOf(node);
  if (!node.auth.enabled) return stamp;
  await checkRange(node, caller, request.key, EMPTY, 'WRITE');
  if (request.prevKv) await checkRange(node, caller, request.key, EMPTY, 'READ');
  await guardLeaseKeys(node, caller, request.lease);
  return stamp;
}

/** Returns the write's auth stamp (see stampOf). */
export async function guardDeleteRange(node: KeelNode, caller: Caller, request: DeleteRangeRequest): Promise<number> {
  const stamp = stampOf(node);
  if (!node.auth.enabled) return stamp;
  await checkRange(node, caller, request.key, request.rangeEnd, 'WRITE');
  if (request.prevKv) await checkRange(node, caller, request.key, request.rangeEnd, 'READ');
  return stamp;
}

/** Every compare needs READ, and every op its own check, in both branches and nested txns. Returns the write's auth stamp. */
export async function guardTxn(node: KeelNode, caller: Caller, request: TxnRequest): Promise<number> {
  const stamp = stampOf(node);
  if (!node.auth.enabled) return stamp;
  for (const compare of request.compare) await checkRange(node, caller, compare.key, compare.rangeEnd, 'READ');
  for (const op of [...request.success, ...request.failure]) {
    if (op.type === 'range') await guardRange(node, caller, op.request);
    else if (op.type === 'put') await guardPut(node, caller, op.request);
    else if (op.type === 'deleteRange') await guardDeleteRange(node, caller, op.request);
    else await guardTxn(node, caller, op.request);
  }
  return stamp;
}

/** Compaction, defragment, snapshot, hash, alarm changes, leader moves, membership changes, auth disable, user and role management. Returns the auth stamp, for the calls that propose. */
export async function guardAdmin(node: KeelNode, caller: Caller): Promise<number> {
  const stamp = stampOf(node);
  if (!node.auth.enabled) return stamp;
  node.auth.checkAdmin(await caller.info());
  return stamp;
}

/** LeaseRevoke deletes the lease's keys: WRITE on each (etcd's checkLeasePuts on revoke). Returns the write's auth stamp. */
export async function guardLeaseRevoke(node: KeelNode, caller: Caller, id: bigint): Promise<number> {
  const stamp = stampOf(node);
  await guardLeaseKeys(node, caller, id);
  return stamp;
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
export async function guardRecipe(node: KeelNode, caller: Caller, name: Uint8Array): Promise<number> {
  const stamp = stampOf(node);
  if (!node.auth.enabled) return stamp;
  const end = prefixRangeEnd(name);
  await checkRange(node, caller, name, end, 'READ');
  await checkRange(node, caller, name, end, 'WRITE');
  return stamp;
}

/** The token of a gRPC call: etcd reads `token` metadata, and `authorization` (what its JSON gateway forwards). */
export function tokenOfMetadata(get: (key: string) => unknown[]): string | undefined {
  for (const key of ['token', 'authorization']) {
    const value = get(key)[0];
    if (typeof value === 'string' && value !== '') return value;
  }
  return undefined;
}

/** The Caller of a grpc-js call: its token metadata, and the identity of its connection (api/auth/client-identity.ts). */
export function callerOfGrpcCall(node: KeelNode, call: GrpcCallTransport & { metadata: { get(key: string): unknown[] } }): Caller {
  return new Caller(node, tokenOfMetadata((key) => call.metadata.get(key)), () => hopsOf(node).ofCall(call));
}

/**
 * {@link callerOfGrpcCall} for a stream, with its identity taken at once: a
 * stream lives on, and its loopback hop's identity (client-identity.ts) is
 * forgotten when the hop closes, so it is read while the call is new.
 */
export function callerOfGrpcStream(node: KeelNode, call: GrpcCallTransport & { metadata: { get(key: string): unknown[] } }): Caller {
  return new Caller(node, tokenOfMetadata((key) => call.metadata.get(key)), hopsOf(node).ofCall(call));
}
