import type { KeelNode, MemberInfo } from '../node/keel-node.js';
import { FORWARDED_HEADER } from '../node/lease-forward.js';
import { BadRequestError, ForwardedError, GrpcCode, NoLeaderError, NotLeaderError } from './errors.js';

/**
 * etcd's Cluster service over KeelNode, shared by the gRPC service and the
 * JSON gateway. Only the leader proposes a membership change; a follower
 * forwards the request to the leader's JSON gateway (as an etcd follower
 * forwards the proposal), then waits until it has applied the change itself
 * (a ReadIndex barrier) so its answer lists the members after the change.
 */


export type ClusterMethod = 'add' | 'remove' | 'promote' | 'update';

export interface ClusterRequest {
  readonly peerURLs?: unknown;
  readonly isLearner?: unknown;
  readonly ID?: unknown;
}

export interface ClusterResult {
  /** MemberAdd only: the added member. */
  readonly member?: MemberInfo;
  /** Every member after the change, as this member has applied it. */
  readonly members: MemberInfo[];
}

const PATHS: Record<ClusterMethod, string> = {
  add: '/v3/cluster/member/add',
  remove: '/v3/cluster/member/remove',
  promote: '/v3/cluster/member/promote',
  update: '/v3/cluster/member/update',
};

/** uint64 member id from a gRPC request (longs as strings) or JSON (string or number). A missing id is 0, which no member has. */
export function memberIdArgument(value: unknown): bigint {
  if (value === undefined || value === null || value === '') return 0n;
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return BigInt(value);
  if (typeof value === 'string' && /^\d{1,20}$/.test(value)) {
    const id = BigInt(value);
    if (id <= 0xffffffffffffffffn) return id;
  }
  throw new BadRequestError('ID must be an unsigned 64-bit integer');
}

function booleanArgument(value: unknown, field: string): boolean {
  if (value === undefined || value === null) return false;
  if (typeof value !== 'boolean') throw new BadRequestError(`${field} must be a boolean`);
  return value;
}

/** Runs one Cluster method here (leader) or through the leader (follower). */
export async function runClusterMethod(node: KeelNode, method: ClusterMethod, request: ClusterRequest, timeoutMs: number, forwarded: boolean): Promise<ClusterResult> {
  const isLearner = booleanArgument(request.isLearner, 'isLearner');
  const memberId = method === 'add' ? 0n : memberIdArgument(request.ID);
  if (!node.isLeader()) return forward(node, method, request, timeoutMs, forwarded);
  switch (method) {
    case 'add': {
      const member = await node.memberAdd(request.peerURLs, isLearner, timeoutMs);
      return { member, members: node.memberList() };
    }
    case 'remove':
      await node.memberRemove(memberId, timeoutMs);
      break;
    case 'promote':
      await node.memberPromote(memberId, timeoutMs);
      break;
    case 'update':
      await node.memberUpdate(memberId, request.peerURLs, timeoutMs);
      break;
  }
  return { members: node.memberList() };
}

async function forward(node: KeelNode, method: ClusterMethod, request: ClusterRequest, timeoutMs: number, forwarded: boolean): Promise<ClusterResult> {
  const leader = node.status().leader;
  if (!leader) throw new NoLeaderError();
  const url = node.leaderClientUrl();
  // A forwarded request that reached a non-leader, or a leader whose client URL is unknown: answer like a write to a non-leader.
  if (forwarded || !url) throw new NotLeaderError(leader, url);
  const started = performance.now();
  let response: Response;
  try {
    response = await fetch(`${url}${PATHS[method]}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', [FORWARDED_HEADER]: '1', 'grpc-timeout': `${Math.max(1, Math.floor(timeoutMs))}m` },
      body: JSON.stringify(request),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (error) {
    throw new ForwardedError(GrpcCode.Unavailable, 'etcdserver: request timed out', 'KEEL_MEMBER_FORWARD_FAILED', `forwarding to the leader at ${url} failed: ${(error as Error).message}`);
  }
  const text = await response.text();
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // not JSON: reported below by status
  }
  if (!response.ok) {
    const code = typeof body.code === 'number' ? body.code : GrpcCode.Unavailable;
    throw new ForwardedError(code, String(body.error ?? `leader answered HTTP ${response.status}`), String(body.keel_code ?? 'KEEL_MEMBER_FORWARD_FAILED'), String(body.message ?? body.error ?? text.slice(0, 200)));
  }
  // The leader applied the change; so will this member once it has applied what is committed now.
  try {
    await node.barrier(Math.max(1, timeoutMs - (performance.now() - started)));
  } catch {
    // The change is done (the leader said so). This member may be the one removed, and stopping: answer with the leader's list.
    return { members: membersFromJson(body.members) };
  }
  const members = node.memberList();
  if (method !== 'add') return { members };
  const added = (body.member as { ID?: unknown } | undefined)?.ID;
  const member = added === undefined ? undefined : members.find((m) => m.memberId === memberIdArgument(added));
  return member ? { member, members } : { members };
}

/** The leader's JSON member list (memberJson's shape), read defensively. */
function membersFromJson(value: unknown): MemberInfo[] {
  if (!Array.isArray(value)) return [];
  const strings = (list: unknown): string[] => (Array.isArray(list) ? list.filter((item): item is string => typeof item === 'string') : []);
  return value.flatMap((raw): MemberInfo[] => {
    const m = raw as Record<string, unknown>;
    if (typeof m.ID !== 'string' || !/^\d{1,20}$/.test(m.ID)) return [];
    const memberId = BigInt(m.ID);
    return [{ id: memberId.toString(16), name: typeof m.name === 'string' ? m.name : '', memberId, peerUrls: strings(m.peerURLs), clientUrls: strings(m.clientURLs), isLearner: m.isLearner === true }];
  });
}

/** etcdserverpb.Member for the JSON gateway: uint64 as a decimal string, zero values omitted as grpc-gateway does. */
export function memberJson(member: MemberInfo): Record<string, unknown> {
  return {
    ID: member.memberId.toString(),
    ...(member.name ? { name: member.name } : {}),
    peerURLs: [...member.peerUrls],
    clientURLs: [...member.clientUrls],
    ...(member.isLearner ? { isLearner: true } : {}),
  };
}

/** etcdserverpb.Member for gRPC (proto-loader: longs as strings). */
export function memberMessage(member: MemberInfo): Record<string, unknown> {
  return { ID: member.memberId.toString(), name: member.name, peerURLs: [...member.peerUrls], clientURLs: [...member.clientUrls], isLearner: member.isLearner };
}
