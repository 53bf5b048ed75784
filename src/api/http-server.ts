import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { DEADLINE_HEADER, GRPC_TIMEOUT_HEADER, parseDeadlineHeader, parseGrpcTimeout } from '../resilience/deadline.js';
import type { KeelNode } from '../node/keel-node.js';
import type { RpcCall, RpcTarget } from '../node/rpc-metrics.js';
import assert from 'node:assert/strict';
import type { CommandResponse } from '../store/state-machine.js';
import { BadRequestError, BodyTooLargeError, InterruptedError, MethodNotAllowedError, NotFoundError, OverloadedError, errorBody, errorReply } from './errors.js';
import { ETCD_API_VERSION, KEEL_VERSION } from './version.js';
import { deleteRangeJson, header, jsonBytes, jsonInt64, jsonObject, keyValueJson, parseCompaction, parseDeleteRange, parseLease, parsePut, parseRange, parseTxn, parseWatchRequest, putJson, rangeJson, txnJson, watchResponseJson } from './json-codec.js';
import { FORWARDED_HEADER } from '../node/lease-forward.js';
import type { WatchSink, WatchStream } from '../store/watch-hub.js';
import { WATCH_STREAMS_MAX } from './grpc/streams.js';
import * as maintenance from './maintenance.js';
import * as recipes from './recipes.js';
import { createHash } from 'node:crypto';
import { backupContentParts } from '../node/backup.js';
import { chunksOf, snapshotSlot } from './grpc/snapshot-stream.js';
import { SNAPSHOT_CHUNK_BYTES } from './limits.js';
import { memberJson, runClusterMethod } from './cluster.js';
import type { ClusterMethod, ClusterRequest } from './cluster.js';
import { handleClock, handleFailpoints, handleStaleReads } from './failpoint-route.js';
import { Caller, guardAdmin, guardDeleteRange, guardLeaseKeysRead, guardLeaseRevoke, guardPut, guardRange, guardRecipe, guardTxn } from './auth/guard.js';
import { identityOfSocket } from './auth/client-identity.js';
import { guardOpenWatches } from './auth/watch-revocation.js';
import { AUTH_METHODS, AUTH_PATHS } from './auth/service.js';
import { createPermitted } from './grpc/streams.js';

/**
 * The client port: etcd's v3 JSON gateway paths for KV and a few
 * maintenance calls, plus /livez, /readyz and /metrics. Every failure is a
 * JSON error with a status, etcd's gRPC code and keel's stable code; no
 * input can crash the member.
 */

/**
 * JSON bodies may be this large. etcd limits a decoded request to 1.5 MiB;
 * base64 makes the JSON up to 4/3 of that, plus field names.
 */
export const BODY_BYTES_MAX = 2 * 1024 * 1024 + 64 * 1024;
/** Slowloris defence: the whole request (headers and body) must arrive within this. */
const REQUEST_TIMEOUT_MS = 30_000;
const HEADERS_TIMEOUT_MS = 10_000;
const KEEP_ALIVE_TIMEOUT_MS = 65_000;
const VERSION = { etcdserver: ETCD_API_VERSION, etcdcluster: ETCD_API_VERSION, keel: KEEL_VERSION };

type Handler = (node: KeelNode, body: unknown, timeoutMs: number, request: IncomingMessage, caller: Caller) => Promise<unknown>;

/** The token of a JSON call: etcd's gateway takes it from the Authorization header (the bare token, no scheme). */
function callerOf(node: KeelNode, request: IncomingMessage): Caller {
  return new Caller(node, headerOf(request, 'authorization') ?? headerOf(request, 'token'), identityOfSocket(request.socket));
}

/** Wraps a route so only the root role may call it once auth is on. */
function adminRoute(handler: Handler): Handler {
  return async (node, body, timeoutMs, request, caller) => {
    await guardAdmin(node, caller);
    return handler(node, body, timeoutMs, request, caller);
  };
}

/** etcd's Cluster changes on the JSON gateway (see api/cluster.ts); `keel-forwarded` marks a follower's forward. */
function clusterRoute(method: ClusterMethod): Handler {
  return async (node, body, timeoutMs, request) => {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new BadRequestError('body must be a JSON object');
    const result = await runClusterMethod(node, method, body as ClusterRequest, timeoutMs, headerOf(request, FORWARDED_HEADER) === '1');
    const { revision: _revision, ...clusterHeader } = header(0, node.headerContext());
    return { header: clusterHeader, ...(result.member ? { member: memberJson(result.member) } : {}), members: result.members.map(memberJson) };
  };
}

const asJson = (response: CommandResponse, node: KeelNode): unknown => {
  const context = node.headerContext();
  switch (response.type) {
    case 'put':
      return putJson(response.response, context);
    case 'deleteRange':
      return deleteRangeJson(response.response, context);
    case 'txn':
      return txnJson(response.response, context);
    case 'compact':
      return { header: header(response.response.header.revision, context) };
    default:
      return { header: header(node.status().revision, context) };
  }
};

const ROUTES: Record<string, Handler> = {
  '/v3/kv/range': async (node, body, timeoutMs, _request, caller) => {
    const { serializable, ...request } = parseRange(body);
    await guardRange(node, caller, request);
    return rangeJson(await node.range(request, serializable, timeoutMs), node.headerContext());
  },
  '/v3/kv/put': async (node, body, timeoutMs, _request, caller) => {
    const request = parsePut(body);
    const authRevision = await guardPut(node, caller, request);
    return asJson(await node.propose({ type: 'put', request, authRevision }, timeoutMs), node);
  },
  '/v3/kv/deleterange': async (node, body, timeoutMs, _request, caller) => {
    const request = parseDeleteRange(body);
    const authRevision = await guardDeleteRange(node, caller, request);
    return asJson(await node.propose({ type: 'deleteRange', request, authRevision }, timeoutMs), node);
  },
  '/v3/kv/txn': async (node, body, timeoutMs, _request, caller) => {
    const request = parseTxn(body);
    const authRevision = await guardTxn(node, caller, request);
    return asJson(await node.txn(request, false, timeoutMs, authRevision), node);
  },
  '/v3/kv/compaction': async (node, body, timeoutMs, _request, caller) => {
    const authRevision = await guardAdmin(node, caller);
    return asJson(await node.propose({ type: 'compact', request: parseCompaction(body), authRevision }, timeoutMs), node);
  },
  '/v3/lease/grant': async (node, body, timeoutMs) => {
    const { id, ttlSeconds } = parseLease(body);
    const granted = await node.leaseGrant(ttlSeconds, id, timeoutMs);
    return { header: header(granted.header.revision, node.headerContext()), ID: granted.id.toString(), TTL: String(granted.ttlSeconds) };
  },
  '/v3/lease/revoke': async (node, body, timeoutMs, _request, caller) => {
    const authRevision = await guardLeaseRevoke(node, caller, parseLease(body).id);
    const revoked = await node.leaseRevoke(parseLease(body).id, timeoutMs, authRevision);
    return { header: header(revoked.header.revision, node.headerContext()) };
  },
  '/v3/lease/timetolive': async (node, body, timeoutMs, request, caller) => {
    const { id, keys } = parseLease(body);
    if (keys) await guardLeaseKeysRead(node, caller, id);
    const result = await node.leaseTimeToLive(id, keys, headerOf(request, FORWARDED_HEADER) === '1', timeoutMs);
    return {
      header: header(node.status().revision, node.headerContext()),
      ID: result.id.toString(),
      TTL: String(result.ttlSeconds),
      ...(result.grantedTtlSeconds ? { grantedTTL: String(result.grantedTtlSeconds) } : {}),
      ...(result.keys.length > 0 ? { keys: result.keys.map((key) => Buffer.from(key).toString('base64')) } : {}),
    };
  },
  '/v3/lease/leases': async (node) => ({
    header: header(node.status().revision, node.headerContext()),
    leases: node.leaseList().map((id) => ({ ID: id.toString() })),
  }),
  '/v3/maintenance/status': async (node) => maintenance.status(node, true),
  '/v3/maintenance/alarm': async (node, body, timeoutMs, _request, caller) => {
    if (maintenance.isAlarmChange(body)) await guardAdmin(node, caller);
    return maintenance.alarm(node, body, timeoutMs);
  },
  '/v3/maintenance/defragment': adminRoute((node, body) => maintenance.defragment(node, body)),
  '/v3/maintenance/transfer-leadership': adminRoute((node, body, timeoutMs) => maintenance.moveLeader(node, body, timeoutMs)),
  '/v3/maintenance/hashkv': adminRoute(async (node, body) => {
    const revision = Number((body as { revision?: unknown } | undefined)?.revision ?? 0);
    if (!Number.isSafeInteger(revision) || revision < 0) throw new BadRequestError('revision must be a non-negative integer');
    const result = await node.hash(revision);
    return { header: header(result.revision, node.headerContext()), hash: String(result.hash), compact_revision: String(result.compactRevision) };
  }),
  '/v3/cluster/member/list': async (node) => {
    // As etcd: the Cluster service's header carries no revision.
    const { revision: _revision, ...clusterHeader } = header(0, node.headerContext());
    return { header: clusterHeader, members: node.memberList().map(memberJson) };
  },
  '/v3/cluster/member/add': adminRoute(clusterRoute('add')),
  '/v3/cluster/member/remove': adminRoute(clusterRoute('remove')),
  '/v3/cluster/member/promote': adminRoute(clusterRoute('promote')),
  '/v3/cluster/member/update': adminRoute(clusterRoute('update')),
};

/** Each request's signal, aborted when its response closes (the client went away, or the answer was sent). */
const REQUEST_SIGNALS = new WeakMap<IncomingMessage, AbortSignal>();

/** Fires when the client goes away: lock and campaign wait until then at most. */
function disconnectSignal(request: IncomingMessage): AbortSignal {
  return REQUEST_SIGNALS.get(request) ?? AbortSignal.abort(new InterruptedError());
}

function leaderKeyJson(body: Record<string, unknown>): recipes.LeaderKey {
  const leader = jsonObject(body.leader, 'leader');
  if (body.leader === undefined) throw new BadRequestError('"leader" field must be provided');
  const rev = jsonInt64(leader, 'rev');
  if (rev <= 0n || rev > BigInt(Number.MAX_SAFE_INTEGER)) throw new BadRequestError('leader.rev must be a positive revision');
  return { name: jsonBytes(leader, 'name'), key: jsonBytes(leader, 'key'), rev: Number(rev), lease: jsonInt64(leader, 'lease') };
}

const b64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64');

ROUTES['/v3/lock/lock'] = async (node, body, timeoutMs, request, caller) => {
  const fields = jsonObject(body);
  const authRevision = await guardRecipe(node, caller, jsonBytes(fields, 'name'));
  const result = await recipes.lock(node, jsonBytes(fields, 'name'), jsonInt64(fields, 'lease'), disconnectSignal(request), timeoutMs, authRevision);
  return { header: header(result.header.revision, node.headerContext()), key: b64(result.key) };
};
ROUTES['/v3/lock/unlock'] = async (node, body, timeoutMs, _request, caller) => {
  const authRevision = await guardRecipe(node, caller, jsonBytes(jsonObject(body), 'key'));
  const result = await recipes.unlock(node, jsonBytes(jsonObject(body), 'key'), timeoutMs, authRevision);
  return { header: header(result.header.revision, node.headerContext()) };
};
ROUTES['/v3/election/campaign'] = async (node, body, timeoutMs, request, caller) => {
  const fields = jsonObject(body);
  const authRevision = await guardRecipe(node, caller, jsonBytes(fields, 'name'));
  const result = await recipes.campaign(node, jsonBytes(fields, 'name'), jsonInt64(fields, 'lease'), jsonBytes(fields, 'value'), disconnectSignal(request), timeoutMs, authRevision);
  const { leader } = result;
  return { header: header(result.header.revision, node.headerContext()), leader: { name: b64(leader.name), key: b64(leader.key), rev: String(leader.rev), lease: leader.lease.toString() } };
};
ROUTES['/v3/election/proclaim'] = async (node, body, timeoutMs, _request, caller) => {
  const fields = jsonObject(body);
  const authRevision = await guardRecipe(node, caller, leaderKeyJson(fields).name);
  const result = await recipes.proclaim(node, leaderKeyJson(fields), jsonBytes(fields, 'value'), timeoutMs, authRevision);
  return { header: header(result.header.revision, node.headerContext()) };
};
ROUTES['/v3/election/resign'] = async (node, body, timeoutMs, _request, caller) => {
  const authRevision = await guardRecipe(node, caller, leaderKeyJson(jsonObject(body)).name);
  const result = await recipes.resign(node, leaderKeyJson(jsonObject(body)), timeoutMs, authRevision);
  return { header: header(result.header.revision, node.headerContext()) };
};
ROUTES['/v3/election/leader'] = async (node, body, timeoutMs, _request, caller) => {
  await guardRecipe(node, caller, jsonBytes(jsonObject(body), 'name'));
  const result = await recipes.leader(node, jsonBytes(jsonObject(body), 'name'), timeoutMs);
  return { header: header(result.header.revision, node.headerContext()), kv: keyValueJson(result.kv) };
};

// etcd's Auth service (api/auth/service.ts).
for (const [path, method] of Object.entries(AUTH_PATHS)) {
  const run = AUTH_METHODS[method]!;
  ROUTES[path] = async (node, body, timeoutMs, _request, caller) => {
    const answer = await run(node, jsonObject(body), caller, timeoutMs);
    return { header: header(answer.revision, node.headerContext()), ...authJson(answer.body) };
  };
}

/** Buffers (permission keys) as base64, as the gateway sends bytes. */
function authJson(body: Record<string, unknown>): Record<string, unknown> {
  return JSON.parse(JSON.stringify(body, (_key, value: unknown) => (value && typeof value === 'object' && (value as { type?: unknown }).type === 'Buffer' && Array.isArray((value as { data?: unknown }).data) ? Buffer.from((value as { data: number[] }).data).toString('base64') : value))) as Record<string, unknown>;
}

// etcd 3.4 serves the lease calls under /v3/kv/lease/... too.
ROUTES['/v3/kv/lease/revoke'] = ROUTES['/v3/lease/revoke']!;
ROUTES['/v3/kv/lease/timetolive'] = ROUTES['/v3/lease/timetolive']!;
ROUTES['/v3/kv/lease/leases'] = ROUTES['/v3/lease/leases']!;

/** Streaming calls: grpc-gateway's shape, one JSON request per line in, one {"result": ...} per line out. */
const STREAMS: Record<string, (node: KeelNode, request: IncomingMessage, response: ServerResponse, rpc: RpcCall) => Promise<void>> = {
  '/v3/lease/keepalive': keepAliveStream,
  '/v3/watch': watchStream,
  '/v3/election/observe': observeStream,
  '/v3/maintenance/snapshot': snapshotStream,
};

/**
 * The gRPC method each JSON route stands for. A JSON call is counted in the
 * grpc_server_* families under that method (as etcd's grpc-gateway, which
 * calls the gRPC server, counts it), and in keel_api_requests_total under its
 * path. Every route and stream above has an entry (checked below).
 */
const RPC_OF_PATH: Record<string, Omit<RpcTarget, 'endpoint'>> = {};
for (const [path, method] of Object.entries({
  '/v3/kv/range': 'KV/Range', '/v3/kv/put': 'KV/Put', '/v3/kv/deleterange': 'KV/DeleteRange', '/v3/kv/txn': 'KV/Txn', '/v3/kv/compaction': 'KV/Compact',
  '/v3/lease/grant': 'Lease/LeaseGrant', '/v3/lease/revoke': 'Lease/LeaseRevoke', '/v3/lease/timetolive': 'Lease/LeaseTimeToLive', '/v3/lease/leases': 'Lease/LeaseLeases',
  '/v3/kv/lease/revoke': 'Lease/LeaseRevoke', '/v3/kv/lease/timetolive': 'Lease/LeaseTimeToLive', '/v3/kv/lease/leases': 'Lease/LeaseLeases',
  '/v3/maintenance/status': 'Maintenance/Status', '/v3/maintenance/alarm': 'Maintenance/Alarm', '/v3/maintenance/defragment': 'Maintenance/Defragment',
  '/v3/maintenance/transfer-leadership': 'Maintenance/MoveLeader', '/v3/maintenance/hashkv': 'Maintenance/HashKV',
  '/v3/cluster/member/list': 'Cluster/MemberList', '/v3/cluster/member/add': 'Cluster/MemberAdd', '/v3/cluster/member/remove': 'Cluster/MemberRemove',
  '/v3/cluster/member/promote': 'Cluster/MemberPromote', '/v3/cluster/member/update': 'Cluster/MemberUpdate',
})) RPC_OF_PATH[path] = { method: `/etcdserverpb.${method}`, type: 'unary' };
for (const [path, method] of Object.entries({ '/v3/lock/lock': 'Lock', '/v3/lock/unlock': 'Unlock' })) RPC_OF_PATH[path] = { method: `/v3lockpb.Lock/${method}`, type: 'unary' };
for (const [path, method] of Object.entries({ '/v3/election/campaign': 'Campaign', '/v3/election/proclaim': 'Proclaim', '/v3/election/resign': 'Resign', '/v3/election/leader': 'Leader' })) {
  RPC_OF_PATH[path] = { method: `/v3electionpb.Election/${method}`, type: 'unary' };
}
for (const [path, method] of Object.entries(AUTH_PATHS)) RPC_OF_PATH[path] = { method: `/etcdserverpb.Auth/${method}`, type: 'unary' };
RPC_OF_PATH['/v3/lease/keepalive'] = { method: '/etcdserverpb.Lease/LeaseKeepAlive', type: 'bidi_stream' };
RPC_OF_PATH['/v3/watch'] = { method: '/etcdserverpb.Watch/Watch', type: 'bidi_stream' };
RPC_OF_PATH['/v3/election/observe'] = { method: '/v3electionpb.Election/Observe', type: 'server_stream' };
RPC_OF_PATH['/v3/maintenance/snapshot'] = { method: '/etcdserverpb.Maintenance/Snapshot', type: 'server_stream' };
for (const path of [...Object.keys(ROUTES), ...Object.keys(STREAMS)]) assert(RPC_OF_PATH[path], `JSON route ${path} maps to no gRPC method`);

export function createApiServer(node: KeelNode): Server {
  const server = createServer({ requestTimeout: REQUEST_TIMEOUT_MS, headersTimeout: HEADERS_TIMEOUT_MS, keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS }, (request, response) => {
    const path = (request.url ?? '/').split('?')[0]!;
    // Label values stay bounded: known routes by name and method, everything else as one ('other', and no gRPC series).
    const target = RPC_OF_PATH[path];
    const rpc = target ? node.metrics.rpc.start({ ...target, endpoint: path }) : undefined;
    handle(node, request, response, rpc).catch((error: unknown) => sendError(node, response, error, rpc));
  });
  server.maxHeadersCount = 100;
  return server;
}

async function handle(node: KeelNode, request: IncomingMessage, response: ServerResponse, rpc: RpcCall | undefined): Promise<void> {
  const path = (request.url ?? '/').split('?')[0]!;
  if (request.method === 'GET' || request.method === 'HEAD') {
    if (path === '/livez') return sendPlain(response, node.live() ? 200 : 503, node.live() ? 'ok\n' : 'failed\n');
    if (path === '/readyz') return sendPlain(response, node.isReady() ? 200 : 503, node.isReady() ? 'ok\n' : 'not ready\n');
    if (path === '/health') return sendJson(response, node.isReady() ? 200 : 503, { health: String(node.isReady()) });
    if (path === '/metrics') {
      const text = await node.metrics.registry.metrics();
      response.writeHead(200, { 'content-type': node.metrics.registry.contentType });
      response.end(text);
      return;
    }
    if (path === '/version') return sendJson(response, 200, VERSION);
  }
  if (path === '/debug/failpoints') return handleFailpoints(request, response);
  if (path === '/debug/clock') return handleClock(node.clock, request, response);
  if (path === '/debug/stale-reads') return handleStaleReads(request, response);
  const stream = STREAMS[path];
  if (stream && rpc && request.method === 'POST') return stream(node, request, response, rpc);
  const route = ROUTES[path];
  if (!route || !rpc) {
    await drain(request);
    throw new NotFoundError(path);
  }
  if (request.method !== 'POST') {
    await drain(request);
    throw new MethodNotAllowedError(request.method ?? '');
  }
  const body = parseJson(await readBody(request));
  rpc.received();
  const timeoutMs = requestTimeoutMs(node, request);
  const controller = new AbortController();
  response.once('close', () => controller.abort(new InterruptedError()));
  REQUEST_SIGNALS.set(request, controller.signal);
  const result = await route(node, body, timeoutMs, request, callerOf(node, request));
  rpc.sent();
  rpc.handled(0, 'OK');
  sendJson(response, 200, result);
}

function requestTimeoutMs(node: KeelNode, request: IncomingMessage): number {
  const keel = parseDeadlineHeader(headerOf(request, DEADLINE_HEADER));
  const grpc = parseGrpcTimeout(headerOf(request, GRPC_TIMEOUT_HEADER));
  const asked = Math.min(keel ?? Number.POSITIVE_INFINITY, grpc ?? Number.POSITIVE_INFINITY);
  return Math.max(1, Math.min(node.config.requestTimeoutMs, asked));
}

function headerOf(request: IncomingMessage, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function readBody(request: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(request.headers['content-length'] ?? 0);
    if (declared > BODY_BYTES_MAX) {
      request.resume();
      reject(new BodyTooLargeError(BODY_BYTES_MAX));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    request.on('data', (chunk: Buffer) => {
      if (failed) return;
      size += chunk.length;
      if (size > BODY_BYTES_MAX) {
        failed = true;
        reject(new BodyTooLargeError(BODY_BYTES_MAX));
        return;
      }
      chunks.push(chunk);
    });
    request.on('end', () => {
      if (!failed) resolve(Buffer.concat(chunks, size));
    });
    request.on('error', (error) => {
      if (!failed) reject(error);
    });
  });
}

async function drain(request: IncomingMessage): Promise<void> {
  try {
    await readBody(request);
  } catch {
    // the body does not matter for an error reply
  }
}

function parseJson(body: Buffer): unknown {
  if (body.length === 0) return {};
  try {
    return JSON.parse(body.toString('utf8'));
  } catch (error) {
    throw new BadRequestError(`malformed JSON: ${(error as Error).message}`);
  }
}

function sendError(node: KeelNode, response: ServerResponse, error: unknown, rpc: RpcCall | undefined): void {
  const reply = errorReply(error);
  if (rpc) rpc.handled(reply.grpcCode, reply.keelCode);
  else node.metrics.requests.inc({ endpoint: 'other', code: reply.keelCode });
  if (response.headersSent) {
    response.destroy();
    return;
  }
  const detail = error instanceof Error ? error.message : String(error);
  sendJson(response, reply.status, errorBody(reply, reply.keelCode === 'KEEL_API_INTERNAL' ? '' : detail), reply.headers);
}

function sendJson(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  response.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  response.end(text);
}

function sendPlain(response: ServerResponse, status: number, text: string): void {
  response.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' });
  response.end(text);
}


/** Splits a request stream into JSON values, one per line (a last value may end without a newline). */
function onJsonLines(request: IncomingMessage, onValue: (value: unknown) => void, onEnd: () => void, onError: (error: unknown) => void): void {
  let buffered = '';
  let failed = false;
  const take = (line: string): void => {
    if (failed || line.trim() === '') return;
    try {
      onValue(parseJson(Buffer.from(line)));
    } catch (error) {
      failed = true;
      onError(error);
    }
  };
  request.setEncoding('utf8');
  request.on('data', (chunk: string) => {
    if (failed) return;
    buffered += chunk;
    if (buffered.length > BODY_BYTES_MAX) {
      failed = true;
      onError(new BodyTooLargeError(BODY_BYTES_MAX));
      return;
    }
    let newline: number;
    while ((newline = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      take(line);
    }
  });
  request.on('end', () => {
    take(buffered);
    buffered = '';
    if (!failed) onEnd();
  });
  request.on('error', () => {
    failed = true;
  });
}

/** One message of a gateway stream, as grpc-gateway frames it: {"result": ...} and a newline. */
function resultLine(result: unknown): string {
  return `${JSON.stringify({ result })}\n`;
}

function startStream(response: ServerResponse): void {
  response.writeHead(200, { 'content-type': 'application/json' });
  response.flushHeaders();
}

/** A failure once the stream has started is reported in-band, as grpc-gateway does: {"error": {...}}. */
function streamError(response: ServerResponse, rpc: RpcCall, error: unknown): void {
  const reply = errorReply(error);
  rpc.handled(reply.grpcCode, reply.keelCode);
  if (!response.headersSent) {
    sendJson(response, reply.status, errorBody(reply, error instanceof Error ? error.message : String(error)), reply.headers);
    return;
  }
  response.end(`${JSON.stringify({ error: errorBody(reply, error instanceof Error ? error.message : String(error)) })}\n`);
}

/** A stream that ends without an error: OK when the client finished it, Canceled when it went away first. */
function countStreamEnd(request: IncomingMessage, response: ServerResponse, rpc: RpcCall): void {
  response.once('close', () => rpc.handled(response.writableFinished ? 0 : 1, response.writableFinished ? 'OK' : 'CANCELLED'));
}

async function keepAliveStream(node: KeelNode, request: IncomingMessage, response: ServerResponse, rpc: RpcCall): Promise<void> {
  countStreamEnd(request, response, rpc);
  const forwarded = headerOf(request, FORWARDED_HEADER) === '1';
  const timeoutMs = requestTimeoutMs(node, request);
  let chain = Promise.resolve();
  let failed = false;
  let queued = 0;
  const fail = (error: unknown): void => {
    if (failed) return;
    failed = true;
    streamError(response, rpc, error);
  };
  onJsonLines(
    request,
    (value) => {
      rpc.received();
      const { id } = parseLease(value);
      if (++queued > 1024) throw new OverloadedError('more than 1024 keep-alives queued on one stream', 1);
      chain = chain.then(async () => {
        try {
          if (failed) return;
          const ttl = await node.leaseRenew(id, forwarded, timeoutMs);
          if (!response.headersSent) startStream(response);
          rpc.sent();
          response.write(resultLine({ header: header(node.status().revision, node.headerContext()), ID: id.toString(), TTL: String(ttl) }));
        } catch (error) {
          fail(error);
        } finally {
          queued--;
        }
      });
    },
    () => void chain.then(() => !failed && (response.headersSent ? response.end() : fail(new BadRequestError('no keep-alive request')))),
    fail,
  );
}

async function watchStream(node: KeelNode, request: IncomingMessage, response: ServerResponse, rpc: RpcCall): Promise<void> {
  if (node.watchHub.streams.size >= WATCH_STREAMS_MAX) throw new OverloadedError(`more than ${WATCH_STREAMS_MAX} watch streams`, 1);
  startStream(response);
  countStreamEnd(request, response, rpc);
  let stream: WatchStream | undefined;
  const sink: WatchSink = {
    send: (reply, bytes) => {
      if (response.writableEnded || response.destroyed) return;
      rpc.sent();
      response.write(resultLine(watchResponseJson(reply, node.headerContext())), () => stream?.released(bytes));
    },
  };
  stream = node.watchHub.open(sink);
  const caller = callerOf(node, request);
  const unguard = guardOpenWatches(node, caller, stream);
  const unregister = node.onStop(() => {
    stream?.close();
    unguard();
    response.end();
  });
  // The stream lives until the client goes away, like etcd's gateway: the request body may end long before.
  response.on('close', () => {
    stream?.close();
    unguard();
    unregister();
  });
  onJsonLines(
    request,
    (value) => {
      rpc.received();
      const action = parseWatchRequest(value);
      if (action.type === 'create') createPermitted(node, caller, stream!, sink, action.request, () => response.writableEnded);
      else if (action.type === 'cancel') stream!.cancel(action.watchId);
      else stream!.requestProgress();
    },
    () => {},
    (error) => {
      stream?.close();
      unguard();
      unregister();
      streamError(response, rpc, error);
    },
  );
}

async function observeStream(node: KeelNode, request: IncomingMessage, response: ServerResponse, rpc: RpcCall): Promise<void> {
  const name = jsonBytes(jsonObject(parseJson(await readBody(request))), 'name');
  rpc.received();
  countStreamEnd(request, response, rpc);
  const controller = new AbortController();
  response.on('close', () => controller.abort());
  startStream(response);
  await recipes.observe(
    node,
    name,
    (update) => {
      if (response.writableEnded) return;
      rpc.sent();
      response.write(resultLine({ header: header(update.header.revision, node.headerContext()), kv: keyValueJson(update.kv) }));
    },
    controller.signal,
  );
  if (!response.writableEnded) response.end();
}

/**
 * Maintenance.Snapshot on the JSON gateway, as grpc-gateway streams it: one
 * {"result": {"remaining_bytes", "blob"}} line per chunk (blob in base64),
 * then the SHA-256 of the content in a last chunk, as over gRPC
 * (grpc/snapshot-stream.ts). Writes wait for the client to drain.
 */
async function snapshotStream(node: KeelNode, request: IncomingMessage, response: ServerResponse, rpc: RpcCall): Promise<void> {
  await drain(request);
  rpc.received();
  await guardAdmin(node, callerOf(node, request));
  const release = snapshotSlot();
  try {
    const snapshot = node.storeSnapshot();
    const parts = backupContentParts(snapshot.bytes);
    const total = parts.reduce((sum, part) => sum + part.length, 0);
    const hash = createHash('sha256');
    let sent = 0;
    startStream(response);
    for (const chunk of chunksOf(parts, SNAPSHOT_CHUNK_BYTES)) {
      if (response.destroyed) return;
      hash.update(chunk);
      sent += chunk.length;
      rpc.sent();
      const result = { ...(sent === chunk.length ? { header: header(snapshot.revision, node.headerContext()) } : {}), remaining_bytes: String(total - sent), blob: chunk.toString('base64') };
      if (!response.write(resultLine(result))) await new Promise((resolve) => { response.once('drain', resolve); response.once('close', resolve); });
    }
    rpc.sent();
    response.end(resultLine({ blob: hash.digest().toString('base64') }));
    rpc.handled(0, 'OK');
  } finally {
    release();
  }
}
