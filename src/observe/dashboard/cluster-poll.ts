import { fetchJson, fetchText } from './fetch-bounded.js';
import { LAG_ENTRIES_WARN, TEXT_CHARS_MAX } from './limits.js';
import { bucketsOf, sumOf, type Buckets, type Sample, parsePrometheusText } from './prometheus-text.js';
import type { ClusterView, Health, MemberView } from './state.js';
import type { MemberTarget } from './targets.js';

/**
 * One poll of every member: etcd's Status (`/v3/maintenance/status`) for
 * raft progress and alarms, `/metrics` for the store's request figures,
 * and the member list (from the first member that answers) to name the
 * leader. Members are asked at once; a member that does not answer is a
 * red row, never an exception.
 */

interface StatusBody {
  header?: { member_id?: string; cluster_id?: string };
  leader?: string;
  raftTerm?: string;
  raftIndex?: string;
  raftAppliedIndex?: string;
  dbSizeInUse?: string;
  errors?: unknown[];
  isLearner?: boolean;
}

/** What one member said in one poll, before it is compared with the others. */
interface MemberReply {
  readonly target: MemberTarget;
  readonly status?: StatusBody;
  readonly statusError?: string;
  readonly metrics?: readonly Sample[];
}

/** The store's request figures of one member at one poll, for rates and latency. */
export interface MemberCounters {
  readonly name: string;
  readonly handled?: number;
  readonly failed?: number;
  readonly latencyBuckets?: Buckets;
}

export interface ClusterPoll {
  readonly view: ClusterView;
  readonly counters: readonly MemberCounters[];
}

/** gRPC codes that mean the server failed the call (etcd mixin's failed-request alert counts these). */
const SERVER_ERROR_CODES = new Set(['Unknown', 'FailedPrecondition', 'ResourceExhausted', 'Internal', 'Unavailable', 'DataLoss', 'DeadlineExceeded']);

export async function pollCluster(targets: readonly MemberTarget[], zoneOf: (url: string) => string | undefined): Promise<ClusterPoll> {
  const replies = await Promise.all(targets.map((target) => askMember(target)));
  const names = await memberNames(replies);
  const leaderIds = new Set(replies.flatMap((reply) => (reply.status?.leader && reply.status.leader !== '0' ? [reply.status.leader] : [])));
  const leaderId = leaderIds.size === 1 ? [...leaderIds][0]! : undefined;
  const leaderReply = replies.find((reply) => reply.status && reply.status.header?.member_id === leaderId);
  const leaderCommit = leaderReply ? Number(leaderReply.status!.raftIndex ?? 0) : Math.max(0, ...replies.map((reply) => Number(reply.status?.raftIndex ?? 0)));
  const members = replies.map((reply) => memberView(reply, leaderCommit, zoneOf));
  const term = Math.max(0, ...members.map((member) => member.term ?? 0));
  const leader = leaderId === undefined ? undefined : (names.get(leaderId) ?? members.find((member) => member.memberId === leaderId)?.name ?? leaderId);
  const view: ClusterView = { members, answered: replies.filter((reply) => reply.status).length, ...(leader === undefined ? {} : { leader }), ...(term > 0 ? { term } : {}) };
  return { view, counters: replies.map(countersOf) };
}

async function askMember(target: MemberTarget): Promise<MemberReply> {
  const [status, metrics] = await Promise.allSettled([
    fetchJson(`${target.url}/v3/maintenance/status`, { method: 'POST', body: '{}' }) as Promise<StatusBody>,
    fetchText(`${target.url}/metrics`),
  ]);
  return {
    target,
    ...(status.status === 'fulfilled' ? { status: status.value } : { statusError: (status.reason as Error).message }),
    ...(metrics.status === 'fulfilled' ? { metrics: parsePrometheusText(metrics.value) } : {}),
  };
}

/** Member id -> name, from the first member that lists them. */
async function memberNames(replies: readonly MemberReply[]): Promise<Map<string, string>> {
  for (const reply of replies) {
    if (!reply.status) continue;
    try {
      const body = (await fetchJson(`${reply.target.url}/v3/cluster/member/list`, { method: 'POST', body: '{}' })) as { members?: Array<{ ID?: unknown; name?: unknown }> };
      const entries = (body.members ?? []).flatMap((member) => (typeof member.ID === 'string' && typeof member.name === 'string' && member.name !== '' ? [[member.ID, member.name.slice(0, TEXT_CHARS_MAX)] as const] : []));
      return new Map(entries);
    } catch {
      // ask the next
    }
  }
  return new Map();
}

function memberView(reply: MemberReply, leaderCommit: number, zoneOf: (url: string) => string | undefined): MemberView {
  const { target, status } = reply;
  const base = {
    name: target.name,
    url: target.url,
    zone: target.zone ?? zoneOf(target.url) ?? '',
    ...(target.pid === undefined ? {} : { pid: target.pid }),
    ...(target.restarts === undefined ? {} : { restarts: target.restarts }),
  };
  if (!status) {
    return { ...base, health: 'down', reason: target.failed ?? reply.statusError ?? 'not answering', isLeader: false, isLearner: false, alarms: [] };
  }
  const memberId = status.header?.member_id ?? '0';
  const leaderId = status.leader ?? '0';
  const commitIndex = Number(status.raftIndex ?? 0);
  const appliedIndex = Number(status.raftAppliedIndex ?? 0);
  const lag = Math.max(0, leaderCommit - appliedIndex);
  const alarms = (status.errors ?? []).filter((error): error is string => typeof error === 'string' && error !== 'etcdserver: no leader').map((error) => error.slice(0, TEXT_CHARS_MAX));
  const [health, reason] = healthOf(leaderId, lag, alarms);
  return {
    ...base,
    health,
    ...(reason === undefined ? {} : { reason }),
    memberId,
    isLeader: leaderId !== '0' && leaderId === memberId,
    isLearner: status.isLearner === true,
    term: Number(status.raftTerm ?? 0),
    commitIndex,
    appliedIndex,
    lag,
    alarms,
    dbSizeBytes: Number(status.dbSizeInUse ?? 0),
  };
}

function healthOf(leaderId: string, lag: number, alarms: readonly string[]): [Health, string | undefined] {
  if (leaderId === '0') return ['warn', 'knows no leader'];
  if (alarms.length > 0) return ['warn', `alarm: ${alarms.join(', ')}`];
  if (lag > LAG_ENTRIES_WARN) return ['warn', `${lag} entries behind the leader`];
  return ['ok', undefined];
}

function countersOf(reply: MemberReply): MemberCounters {
  const samples = reply.metrics;
  if (!samples) return { name: reply.target.name };
  const handled = sumOf(samples, 'grpc_server_handled_total');
  const failed = sumOf(samples, 'grpc_server_handled_total', (labels) => SERVER_ERROR_CODES.has(labels.grpc_code ?? ''));
  const buckets = bucketsOf(samples, 'grpc_server_handling_seconds');
  return {
    name: reply.target.name,
    ...(handled === undefined ? {} : { handled, failed: failed ?? 0 }),
    ...(buckets.length > 0 ? { latencyBuckets: buckets } : {}),
  };
}
