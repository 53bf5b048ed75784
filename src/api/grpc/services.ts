import { Metadata } from '@grpc/grpc-js';
import type { ServerUnaryCall, ServiceError, UntypedServiceImplementation, sendUnaryData } from '@grpc/grpc-js';
import type { KeelNode } from '../../node/keel-node.js';
import type { RpcCall, RpcType } from '../../node/rpc-metrics.js';
import type { CommandResponse } from '../../store/state-machine.js';
import { BadRequestError, RequestTimeoutError, errorReply } from '../errors.js';
import { memberMessage, runClusterMethod } from '../cluster.js';
import type { ClusterMethod } from '../cluster.js';
import {
  compactionRequest,
  deleteRangeRequest,
  deleteRangeResponse,
  header,
  isSerializableTxn,
  leaseIdField,
  leaseTtlField,
  putRequest,
  putResponse,
  rangeRequest,
  rangeResponse,
  txnRequest,
  txnResponse,
} from './codec.js';
import type { Message } from './codec.js';
import { keepAliveCall, watchCall } from './streams.js';
import * as maintenance from '../maintenance.js';
import { snapshotHandler } from './snapshot-stream.js';
import { Caller, callerOfGrpcCall, guardAdmin, guardDeleteRange, guardLeaseKeysRead, guardLeaseRevoke, guardPut, guardRange, guardTxn } from '../auth/guard.js';
import { AUTH_METHODS } from '../auth/service.js';

/**
 * etcd's unary gRPC methods that keel serves, over KeelNode. Every handler
 * answers once: a response, or an error mapped by errors.ts's one table to
 * etcd's gRPC code and message (keel's stable code rides in the trailing
 * metadata as `keel-code`). Methods not listed here are left to grpc-js,
 * which answers UNIMPLEMENTED.
 */

/** Metadata key carrying keel's stable error code next to etcd's gRPC status. */
export const KEEL_CODE_METADATA = 'keel-code';

/**
 * `signal()` gives an AbortSignal that aborts when the client cancels the
 * call or its deadline passes (for calls that wait, such as Lock). It is
 * made on first use: most calls never wait, and an AbortSignal per call was
 * ~3% of a member's CPU under a read load.
 */
export type Handler = (node: KeelNode, request: Message, timeoutMs: number, signal: () => AbortSignal, caller: Caller) => Promise<Message>;

/** The request's grpc-timeout, bounded by the member's own request timeout, so a deadline reaches KeelNode. */
function timeoutOf(node: KeelNode, call: ServerUnaryCall<Message, Message>): number {
  const deadline = call.getDeadline();
  const deadlineMs = deadline instanceof Date ? deadline.getTime() : deadline;
  const remainingMs = Number.isFinite(deadlineMs) ? Math.ceil(deadlineMs - Date.now()) : Number.POSITIVE_INFINITY;
  return Math.max(1, Math.min(node.config.requestTimeoutMs, remainingMs));
}

function writeResponse(node: KeelNode, response: CommandResponse): Message {
  const context = node.headerContext();
  switch (response.type) {
    case 'put':
      return putResponse(response.response, context);
    case 'deleteRange':
      return deleteRangeResponse(response.response, context);
    case 'txn':
      return txnResponse(response.response, context);
    case 'compact':
      return { header: header(response.response.header.revision, context) };
    default:
      return { header: header(node.status().revision, context) };
  }
}

const KV: Record<string, Handler> = {
  Range: async (node, request, timeoutMs, _signal, caller) => {
    const range = rangeRequest(request);
    await guardRange(node, caller, range);
    return rangeResponse(await node.range(range, request.serializable === true, timeoutMs), node.headerContext());
  },
  Put: async (node, request, timeoutMs, _signal, caller) => {
    const put = putRequest(request);
    const authRevision = await guardPut(node, caller, put);
    return writeResponse(node, await node.propose({ type: 'put', request: put, authRevision }, timeoutMs));
  },
  DeleteRange: async (node, request, timeoutMs, _signal, caller) => {
    const deletion = deleteRangeRequest(request);
    const authRevision = await guardDeleteRange(node, caller, deletion);
    return writeResponse(node, await node.propose({ type: 'deleteRange', request: deletion, authRevision }, timeoutMs));
  },
  Txn: async (node, request, timeoutMs, _signal, caller) => {
    const txn = txnRequest(request);
    const authRevision = await guardTxn(node, caller, txn);
    return writeResponse(node, await node.txn(txn, isSerializableTxn(request), timeoutMs, authRevision));
  },
  Compact: async (node, request, timeoutMs, _signal, caller) => {
    const authRevision = await guardAdmin(node, caller);
    return writeResponse(node, await node.propose({ type: 'compact', request: compactionRequest(request), authRevision }, timeoutMs));
  },
};

/** Wraps a handler so only the root role may call it once auth is on. */
function adminOnly(handler: Handler): Handler {
  return async (node, request, timeoutMs, signal, caller) => {
    await guardAdmin(node, caller);
    return handler(node, request, timeoutMs, signal, caller);
  };
}

const MAINTENANCE: Record<string, Handler> = {
  Status: async (node) => maintenance.status(node, false),
  Alarm: async (node, request, timeoutMs, _signal, caller) => {
    if (maintenance.isAlarmChange(request)) await guardAdmin(node, caller);
    return maintenance.alarm(node, request, timeoutMs);
  },
  Defragment: adminOnly((node, request) => maintenance.defragment(node, request)),
  MoveLeader: adminOnly((node, request, timeoutMs) => maintenance.moveLeader(node, request, timeoutMs)),
  HashKV: adminOnly(async (node, request) => {
    const revision = request.revision === undefined ? 0 : Number(request.revision);
    if (!Number.isSafeInteger(revision) || revision < 0) throw new BadRequestError('revision must be a non-negative integer');
    const result = await node.hash(revision);
    return { header: header(result.revision, node.headerContext()), hash: result.hash, compact_revision: String(result.compactRevision) };
  }),
};

const LEASE: Record<string, Handler> = {
  LeaseGrant: async (node, request, timeoutMs) => {
    const granted = await node.leaseGrant(leaseTtlField(request), leaseIdField(request), timeoutMs);
    return { header: header(granted.header.revision, node.headerContext()), ID: granted.id.toString(), TTL: String(granted.ttlSeconds), error: '' };
  },
  LeaseRevoke: async (node, request, timeoutMs, _signal, caller) => {
    const authRevision = await guardLeaseRevoke(node, caller, leaseIdField(request));
    const revoked = await node.leaseRevoke(leaseIdField(request), timeoutMs, authRevision);
    return { header: header(revoked.header.revision, node.headerContext()) };
  },
  LeaseTimeToLive: async (node, request, timeoutMs, _signal, caller) => {
    if (request.keys === true) await guardLeaseKeysRead(node, caller, leaseIdField(request));
    const result = await node.leaseTimeToLive(leaseIdField(request), request.keys === true, false, timeoutMs);
    return {
      header: header(node.status().revision, node.headerContext()),
      ID: result.id.toString(),
      TTL: String(result.ttlSeconds),
      grantedTTL: String(result.grantedTtlSeconds),
      keys: result.keys.map((key) => Buffer.from(key.buffer, key.byteOffset, key.byteLength)),
    };
  },
  LeaseLeases: async (node) => ({
    header: header(node.status().revision, node.headerContext()),
    leases: node.leaseList().map((id) => ({ ID: id.toString() })),
  }),
};

/** etcd's Cluster service answers with a header without a revision (it reads no key-value state). */
function clusterHeader(node: Parameters<Handler>[0]): Message {
  const { revision: _revision, ...rest } = header(0, node.headerContext()) as Record<string, unknown>;
  return rest as Message;
}

/** MemberAdd/Remove/Promote/Update: see api/cluster.ts (leader proposes, a follower forwards). */
function clusterChange(method: ClusterMethod): Handler {
  return async (node, request, timeoutMs) => {
    const result = await runClusterMethod(node, method, request, timeoutMs, false);
    return {
      header: clusterHeader(node),
      ...(result.member ? { member: memberMessage(result.member) } : {}),
      members: result.members.map(memberMessage),
    };
  };
}

/** etcd's Auth service (api/auth/service.ts), the header added here. */
const AUTH: Record<string, Handler> = Object.fromEntries(
  Object.entries(AUTH_METHODS).map(([method, run]) => [
    method,
    (async (node, request, timeoutMs, _signal, caller) => {
      const answer = await run(node, request, caller, timeoutMs);
      return { header: header(answer.revision, node.headerContext()), ...answer.body };
    }) satisfies Handler,
  ]),
);

const CLUSTER: Record<string, Handler> = {
  MemberList: async (node) => ({
    header: clusterHeader(node),
    members: node.memberList().map(memberMessage),
  }),
  MemberAdd: adminOnly(clusterChange('add')),
  MemberRemove: adminOnly(clusterChange('remove')),
  MemberPromote: adminOnly(clusterChange('promote')),
  MemberUpdate: adminOnly(clusterChange('update')),
};

/** grpc-js implementations of the served methods, by service name. */
export function serviceImplementations(node: KeelNode): Record<'KV' | 'Maintenance' | 'Cluster' | 'Lease' | 'Watch' | 'Auth', UntypedServiceImplementation> {
  const bind = (service: string, handlers: Record<string, Handler>): UntypedServiceImplementation =>
    Object.fromEntries(Object.entries(handlers).map(([method, handler]) => [method, unary(node, `/etcdserverpb.${service}/${method}`, handler)]));
  return {
    KV: bind('KV', KV),
    Maintenance: { ...bind('Maintenance', MAINTENANCE), Snapshot: snapshotHandler(node) },
    Cluster: bind('Cluster', CLUSTER),
    Lease: { ...bind('Lease', LEASE), LeaseKeepAlive: keepAliveCall(node) },
    Watch: { Watch: watchCall(node) },
    Auth: bind('Auth', AUTH),
  };
}

/**
 * What a failed call answers, unary or streaming: etcd's gRPC code and
 * message from errors.ts's table, keel's stable code in the trailing
 * metadata, and the call counted as handled with that code. A streaming handler
 * ends its call with `call.emit('error', grpcFailure(...))`.
 */
export function grpcFailure(rpc: RpcCall, error: unknown): Partial<ServiceError> {
  const reply = errorReply(error);
  rpc.handled(reply.grpcCode, reply.keelCode);
  const metadata = new Metadata();
  metadata.set(KEEL_CODE_METADATA, reply.keelCode);
  return { code: reply.grpcCode, details: reply.message, metadata };
}

/** Starts counting a gRPC call to `method` (`/package.Service/Method`). */
export function startRpc(node: KeelNode, method: string, type: RpcType): RpcCall {
  return node.metrics.rpc.start({ method, type, endpoint: method });
}

export function unary(node: KeelNode, endpoint: string, handler: Handler) {
  return (call: ServerUnaryCall<Message, Message>, callback: sendUnaryData<Message>): void => {
    const rpc = startRpc(node, endpoint, 'unary');
    rpc.received();
    let answer: Promise<Message>;
    let controller: AbortController | undefined;
    const abortController = (): AbortController => (controller ??= new AbortController());
    // grpc-js emits 'cancelled' when the stream closes, also after an answered call; only a call still
    // running is aborted, and the listener goes with the answer (building an error per call cost ~4% of a
    // member's CPU under a read load).
    const onCancelled = (): void => abortController().abort(new RequestTimeoutError(0));
    call.once('cancelled', onCancelled);
    const deadline = call.getDeadline();
    const deadlineMs = deadline instanceof Date ? deadline.getTime() : deadline;
    const timer = Number.isFinite(deadlineMs) ? setTimeout(() => abortController().abort(new RequestTimeoutError(Math.max(0, deadlineMs - Date.now()))), Math.max(0, deadlineMs - Date.now())) : undefined;
    const settle = (): void => {
      clearTimeout(timer);
      call.off('cancelled', onCancelled);
    };
    try {
      const caller = callerOfGrpcCall(node, call);
      answer = handler(node, call.request, timeoutOf(node, call), () => abortController().signal, caller);
    } catch (error) {
      answer = Promise.reject(error);
    }
    answer.then(
      (response) => {
        settle();
        rpc.sent();
        rpc.handled(0, 'OK');
        callback(null, response);
      },
      (error: unknown) => {
        settle();
        callback(grpcFailure(rpc, error), null);
      },
    );
  };
}
