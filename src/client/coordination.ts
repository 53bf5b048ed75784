/**
 * Lock and Election over the members' v3lock / v3election JSON routes
 * (`/v3/lock/*`, `/v3/election/*`). The member runs etcd's recipes; here is
 * the session around them: ownership is a key `<name>/<lease in hex>`
 * attached to a lease, so it ends when the lease ends. When the caller
 * gives no lease, one is granted (TTL 60 s by default, etcd's session
 * default) and kept alive in the background until unlock/resign.
 *
 * Retry rules (docs/client.md): lock and campaign retry on another member
 * after any failure that leaves the outcome unknown, because acquiring again
 * with the same lease finds the same key and keeps its place in line; they
 * wait up to their deadline (default 10 minutes) or until the signal fires.
 * Unlock, resign and proclaim are guarded by the key (and its create
 * revision), so repeating them is harmless: they retry like reads. Leader
 * is a read.
 */
import type { CallOptions } from './kv-requests.js';
import { type Bytes, type KeyValue, parseHeader, parseKeyValue, type ResponseHeader, toBase64, toBuffer } from './codec.js';
import { InvalidArgumentError, type LeaseLostError, ServerError } from './errors.js';
import type { LeaseKeepAlive } from './lease-keepalive.js';
import { SESSION_TTL_SECONDS_DEFAULT } from './limits.js';
import { ResumingStream, type StreamOptions, type StreamProtocol, type StreamTransport } from './resuming-stream.js';

/** What the recipes need from the client. */
export interface CoordinationBackend {
  /** A call that may wait for long (lock, campaign): retried after unknown outcomes, one attempt runs to the deadline. */
  acquire(path: string, body: unknown, options: CallOptions): Promise<unknown>;
  /** A call guarded by its key: retried like a read. */
  guarded(path: string, body: unknown, options: CallOptions): Promise<unknown>;
  read(path: string, body: unknown, options: CallOptions): Promise<unknown>;
  leaseGrant(ttlSeconds: number, options: CallOptions): Promise<{ readonly id: string; readonly ttlSeconds: number }>;
  leaseRevoke(id: string, options: CallOptions): Promise<unknown>;
  leaseKeepAlive(id: string, ttlSeconds?: number): LeaseKeepAlive;
  readonly transport: StreamTransport;
}

/** Options of lock() and campaign(). */
export interface SessionOptions extends CallOptions {
  /** Hold ownership on this lease (decimal id); the caller keeps it alive. Default: a lease granted and kept alive for this lock. */
  readonly lease?: string;
  /** TTL of the lease granted when `lease` is not given (default 60 s): how long a crashed holder blocks others. */
  readonly ttlSeconds?: number;
}

interface Session {
  readonly lease: string;
  /** Present when the session granted the lease itself. */
  readonly keepAlive: LeaseKeepAlive | undefined;
}

const NEVER = new Promise<LeaseLostError>(() => {});

async function openSession(backend: CoordinationBackend, options: SessionOptions): Promise<Session> {
  if (options.lease !== undefined) {
    if (!/^[1-9]\d{0,18}$/.test(options.lease)) throw new InvalidArgumentError(`lease must be a positive decimal id, got ${JSON.stringify(options.lease)}`);
    return { lease: options.lease, keepAlive: undefined };
  }
  const granted = await backend.leaseGrant(options.ttlSeconds ?? SESSION_TTL_SECONDS_DEFAULT, callOptions(options));
  return { lease: granted.id, keepAlive: backend.leaseKeepAlive(granted.id, granted.ttlSeconds) };
}

/** Stops the keep-alive and revokes a lease the session granted (best effort: unrevoked, it expires after its TTL). */
async function closeSession(backend: CoordinationBackend, session: Session): Promise<void> {
  if (session.keepAlive === undefined) return;
  await session.keepAlive.close();
  await backend.leaseRevoke(session.lease, {}).catch(() => undefined);
}

function callOptions(options: CallOptions): CallOptions {
  return { ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }), ...(options.signal === undefined ? {} : { signal: options.signal }) };
}

function nameArgument(name: Bytes): Buffer {
  const bytes = toBuffer(name);
  if (bytes.length === 0) throw new InvalidArgumentError('name must not be empty');
  return bytes;
}

/** The key a lease owns under `name` (the server's `<name>/<lease in hex>`). */
function ownerKey(name: Buffer, lease: string): Buffer {
  return Buffer.concat([name, Buffer.from(`/${BigInt(lease).toString(16)}`)]);
}

function bytesField(json: Record<string, unknown>, field: string): Buffer {
  const value = json[field];
  return typeof value === 'string' ? Buffer.from(value, 'base64') : Buffer.alloc(0);
}

/** A held lock. */
export class LockHandle {
  /** The key that holds the lock (pass it to txn compares to fence writes on ownership). */
  readonly key: Buffer;
  /** The lease the lock lives on. */
  readonly lease: string;
  /** The header of the answer that granted the lock. */
  readonly header: ResponseHeader;
  readonly #backend: CoordinationBackend;
  readonly #session: Session;
  #released = false;

  constructor(backend: CoordinationBackend, session: Session, key: Buffer, header: ResponseHeader) {
    this.#backend = backend;
    this.#session = session;
    this.key = key;
    this.lease = session.lease;
    this.header = header;
  }

  /** Resolves when the lock's own lease is lost (then the lock is gone too); never, when the caller gave the lease. */
  get lost(): Promise<LeaseLostError> {
    return this.#session.keepAlive?.lost ?? NEVER;
  }

  /** Releases the lock (deletes its key; retried like a read), then stops and revokes the lease it granted. Idempotent. */
  async unlock(options: CallOptions = {}): Promise<void> {
    if (this.#released) return;
    await this.#backend.guarded('/v3/lock/unlock', { key: this.key.toString('base64') }, callOptions(options));
    this.#released = true;
    await closeSession(this.#backend, this.#session);
  }
}

/** Takes the lock `name`, waiting while others hold it. See the module comment for retries. */
export async function lock(backend: CoordinationBackend, name: Bytes, options: SessionOptions): Promise<LockHandle> {
  const nameBytes = nameArgument(name);
  const session = await openSession(backend, options);
  try {
    const json = (await backend.acquire('/v3/lock/lock', { name: nameBytes.toString('base64'), lease: session.lease }, callOptions(options))) as Record<string, unknown>;
    return new LockHandle(backend, session, bytesField(json, 'key'), parseHeader(json.header));
  } catch (error) {
    // Never hold the lock by surprise later: remove the key this attempt may have created.
    await backend.guarded('/v3/lock/unlock', { key: ownerKey(nameBytes, session.lease).toString('base64') }, {}).catch(() => undefined);
    await closeSession(backend, session);
    throw error;
  }
}

/** A leadership won by campaign(): what proclaim and resign present to the server. */
export interface LeaderKey {
  readonly name: Buffer;
  readonly key: Buffer;
  /** The create revision of `key`. */
  readonly rev: number;
  readonly lease: string;
}

function leaderKeyJson(leader: LeaderKey): Record<string, unknown> {
  return { name: leader.name.toString('base64'), key: leader.key.toString('base64'), rev: String(leader.rev), lease: leader.lease };
}

function isNoLeader(error: unknown): boolean {
  return error instanceof ServerError && /election: no leader/.test(error.serverMessage);
}

/** Observe's wire side: the leader's key on every change, deduplicated across reconnections. */
class ObserveProtocol implements StreamProtocol<KeyValue> {
  readonly path = '/v3/election/observe';
  readonly #name: string;
  #lastMark = '';
  #lastHeaderRevision = 0;

  constructor(name: Buffer) {
    this.#name = name.toString('base64');
  }

  request(): unknown {
    return { name: this.#name };
  }

  accept(result: Record<string, unknown>): { items: KeyValue[]; established: boolean } {
    const header = parseHeader(result.header);
    const kv = parseKeyValue(result.kv);
    const mark = `${kv.key.toString('hex')}@${kv.modRevision}`;
    // A member behind the last one may first report an older state: skip it, it reports again as it catches up.
    if (mark === this.#lastMark || header.revision < this.#lastHeaderRevision) return { items: [], established: true };
    this.#lastMark = mark;
    this.#lastHeaderRevision = header.revision;
    return { items: [kv], established: true };
  }
}

/** One election. Campaign, and the leader's duties, belong to one Election object at a time. */
export class Election {
  readonly name: Buffer;
  readonly #backend: CoordinationBackend;
  #session: Session | undefined;
  #leaderKey: LeaderKey | undefined;

  constructor(backend: CoordinationBackend, name: Bytes) {
    this.#backend = backend;
    this.name = nameArgument(name);
  }

  /** The leadership this object holds, if any. */
  get leaderKey(): LeaderKey | undefined {
    return this.#leaderKey;
  }

  /** Resolves when the lease of the leadership this object campaigned with is lost. */
  get lost(): Promise<LeaseLostError> {
    return this.#session?.keepAlive?.lost ?? NEVER;
  }

  /** Becomes leader with `value`, waiting while someone else leads. Retried after unknown outcomes (same lease, same candidacy). */
  async campaign(value: Bytes, options: SessionOptions = {}): Promise<LeaderKey> {
    if (this.#leaderKey !== undefined) throw new InvalidArgumentError('this Election already leads: resign first');
    const session = this.#session ?? (await openSession(this.#backend, options));
    this.#session = session;
    try {
      const json = (await this.#backend.acquire('/v3/election/campaign', { name: this.name.toString('base64'), lease: session.lease, value: toBase64(value) }, callOptions(options))) as Record<string, unknown>;
      const leader = (json.leader ?? {}) as Record<string, unknown>;
      this.#leaderKey = { name: this.name, key: bytesField(leader, 'key'), rev: Number(leader.rev ?? 0), lease: session.lease };
      return this.#leaderKey;
    } catch (error) {
      await this.#backend.guarded('/v3/lock/unlock', { key: ownerKey(this.name, session.lease).toString('base64') }, {}).catch(() => undefined);
      this.#session = undefined;
      await closeSession(this.#backend, session);
      throw error;
    }
  }

  /** Announces a new value without giving up leadership; fails with the server's "election: not leader" when this object no longer leads. */
  async proclaim(value: Bytes, options: CallOptions = {}): Promise<void> {
    const leader = this.#requireLeader();
    await this.#backend.guarded('/v3/election/proclaim', { leader: leaderKeyJson(leader), value: toBase64(value) }, callOptions(options));
  }

  /** The current leader's key and value, or undefined when nobody leads. A read. */
  async leader(options: CallOptions = {}): Promise<KeyValue | undefined> {
    try {
      const json = (await this.#backend.read('/v3/election/leader', { name: this.name.toString('base64') }, callOptions(options))) as Record<string, unknown>;
      return parseKeyValue(json.kv);
    } catch (error) {
      if (isNoLeader(error)) return undefined;
      throw error;
    }
  }

  /** The leader now (once there is one) and at every change, resumed on another member when the stream breaks. */
  observe(options: StreamOptions = {}): ResumingStream<KeyValue> {
    return new ResumingStream(this.#backend.transport, new ObserveProtocol(this.name), options);
  }

  /** Gives up leadership (guarded by the key's create revision: retried like a read), then stops and revokes a lease it granted. */
  async resign(options: CallOptions = {}): Promise<void> {
    const leader = this.#requireLeader();
    await this.#backend.guarded('/v3/election/resign', { leader: leaderKeyJson(leader) }, callOptions(options));
    this.#leaderKey = undefined;
    const session = this.#session;
    this.#session = undefined;
    if (session !== undefined) await closeSession(this.#backend, session);
  }

  #requireLeader(): LeaderKey {
    if (this.#leaderKey === undefined) throw new InvalidArgumentError('this Election does not lead: campaign first');
    return this.#leaderKey;
  }
}

