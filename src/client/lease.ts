/**
 * The lease calls' wire format on the JSON gateway: `ID` and `TTL` as
 * decimal strings (grpc-gateway keeps the proto's capitals), keys in
 * base64. Lease ids stay decimal strings, as everywhere in the client.
 */
import { type ResponseHeader, int, parseHeader } from './codec.js';
import { BadResponseError, InvalidArgumentError } from './errors.js';
import { errorForStatus } from './http.js';

export interface LeaseGrantResult {
  readonly header: ResponseHeader;
  /** The lease id (decimal string). */
  readonly id: string;
  /** The TTL the server granted (it may raise a short one to its minimum). */
  readonly ttlSeconds: number;
}

export interface LeaseTimeToLiveResult {
  readonly header: ResponseHeader;
  readonly id: string;
  /** Seconds left; -1 when the lease does not exist (expired or revoked). */
  readonly ttlSeconds: number;
  /** The TTL it was granted with (0 when it does not exist). */
  readonly grantedTtlSeconds: number;
  /** Its keys, when asked for. */
  readonly keys: readonly Buffer[];
}

export interface LeaseListResult {
  readonly header: ResponseHeader;
  readonly ids: readonly string[];
}

const INT64_MAX = 2n ** 63n - 1n;

/** A lease id argument: a positive decimal int64, as a string. */
export function leaseIdArgument(id: string): string {
  if (typeof id !== 'string' || !/^[1-9]\d{0,18}$/.test(id) || BigInt(id) > INT64_MAX) throw new InvalidArgumentError(`lease id must be a positive decimal int64 string, got ${JSON.stringify(id)}`);
  return id;
}

type Json = Record<string, unknown>;

function object(value: unknown, what: string): Json {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new BadResponseError(`${what} is not an object`);
  return value as Json;
}

function leaseId(json: Json): string {
  const value = json.ID ?? json.id;
  return value === undefined || value === null ? '0' : String(value);
}

export function parseLeaseGrant(value: unknown): LeaseGrantResult {
  const json = object(value, 'lease grant response');
  // etcd's LeaseGrantResponse has an `error` string field for failures it reports in the body.
  if (typeof json.error === 'string' && json.error !== '') throw errorForStatus(500, JSON.stringify({ message: json.error }), {}, 0);
  return { header: parseHeader(json.header), id: leaseId(json), ttlSeconds: int(json.TTL, 'TTL') };
}

export function parseLeaseTimeToLive(value: unknown): LeaseTimeToLiveResult {
  const json = object(value, 'lease time-to-live response');
  const keys = Array.isArray(json.keys) ? json.keys.map((key) => Buffer.from(String(key), 'base64')) : [];
  return { header: parseHeader(json.header), id: leaseId(json), ttlSeconds: int(json.TTL, 'TTL'), grantedTtlSeconds: int(json.grantedTTL, 'grantedTTL'), keys };
}

export function parseLeaseList(value: unknown): LeaseListResult {
  const json = object(value, 'lease list response');
  const leases = Array.isArray(json.leases) ? json.leases : [];
  return { header: parseHeader(json.header), ids: leases.map((lease) => leaseId(object(lease, 'lease'))) };
}

/** One keep-alive answer (`{"result": {...}}` from the stream, or the bare object): the TTL granted, ≤ 0 when the lease is gone. */
export function parseKeepAlive(value: unknown): number {
  const json = object(value, 'keep-alive response');
  if (typeof json.error === 'object' && json.error !== null) {
    const error = json.error as { code?: number };
    throw errorForStatus(error.code === 5 ? 404 : error.code === 14 ? 503 : 500, JSON.stringify(json.error), {}, 0);
  }
  const result = json.result === undefined ? json : object(json.result, 'keep-alive result');
  return int(result.TTL, 'TTL');
}
