import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ClusterFileError, NoLeaderError } from './errors.js';
import { MEMBERS_MAX, MEMBER_CALL_TIMEOUT_MS } from './limits.js';

/** One member as keel up's cluster.json lists it (the fields keel chaos reads). */
export interface MemberView {
  readonly id: string;
  readonly zone: string;
  readonly clientUrl: string;
  /** null while the supervisor is restarting it. */
  readonly pid: number | null;
  /** Set when keel up ran the member in its own network namespace (`keel up --netns`). */
  readonly netns?: string;
  /** The member's address inside its namespace (198.18.0.x). */
  readonly address?: string;
  /** Set when keel up put the member's data dir on its own faultfs mount (`keel up --faultfs`): the mount point. */
  readonly faultfs?: string;
}

/** What keel chaos knows of a cluster: its members, the gateway, the supervisor. */
export interface ClusterView {
  readonly members: readonly MemberView[];
  readonly gateway?: { readonly pid: number | null; readonly url: string };
  /** keel up's pid: while it lives, a killed member is restarted by it. */
  readonly supervisorPid?: number;
  readonly clusterFile?: string;
}

/**
 * A planned restart of a keel up member: the file that asks keel up to
 * start the member again after it exits cleanly. Without it a clean exit
 * (SIGTERM, MemberRemove) means "stopped on purpose" and keel up leaves the
 * member down. The file lives beside cluster.json; keel up removes it when
 * it restarts the member.
 */
export function restartRequestPath(dataDir: string, memberId: string): string {
  return join(dataDir, 'restart-requests', memberId);
}

/** Reads `<dataDir>/cluster.json` as keel up writes it. */
export function readClusterView(dataDir: string): ClusterView {
  const path = join(dataDir, 'cluster.json');
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new ClusterFileError(path, `cannot read it (${(error as Error).message}); is this a keel up data dir?`);
  }
  const body = raw as { members?: unknown; gateway?: { pid?: unknown; url?: unknown }; supervisorPid?: unknown };
  if (!Array.isArray(body.members) || body.members.length === 0) throw new ClusterFileError(path, 'lists no members');
  if (body.members.length > MEMBERS_MAX) throw new ClusterFileError(path, `lists more than ${MEMBERS_MAX} members`);
  const members = body.members.map((entry: unknown, index: number) => memberOf(path, entry, index));
  const gateway = body.gateway && typeof body.gateway.url === 'string' ? { url: body.gateway.url, pid: pidOf(body.gateway.pid) } : undefined;
  return {
    members,
    ...(gateway ? { gateway } : {}),
    ...(typeof body.supervisorPid === 'number' ? { supervisorPid: body.supervisorPid } : {}),
    clusterFile: path,
  };
}

function memberOf(path: string, entry: unknown, index: number): MemberView {
  const member = entry as Record<string, unknown>;
  if (typeof member['id'] !== 'string' || typeof member['clientUrl'] !== 'string') throw new ClusterFileError(path, `member ${index} has no id or clientUrl`);
  return {
    id: member['id'],
    zone: typeof member['zone'] === 'string' ? member['zone'] : '',
    clientUrl: member['clientUrl'],
    pid: pidOf(member['pid']),
    ...(typeof member['netns'] === 'string' ? { netns: member['netns'] } : {}),
    ...(typeof member['address'] === 'string' ? { address: member['address'] } : {}),
    ...(typeof member['faultfs'] === 'string' ? { faultfs: member['faultfs'] } : {}),
  };
}

function pidOf(value: unknown): number | null {
  return typeof value === 'number' && Number.isInteger(value) && value > 0 ? value : null;
}

interface StatusAnswer {
  readonly member: MemberView;
  readonly memberId: string;
  readonly leader: string;
}

async function statusOf(member: MemberView): Promise<StatusAnswer | undefined> {
  try {
    const response = await fetch(`${member.clientUrl}/v3/maintenance/status`, { method: 'POST', body: '{}', signal: AbortSignal.timeout(MEMBER_CALL_TIMEOUT_MS) });
    if (!response.ok) return undefined;
    const status = (await response.json()) as { leader?: unknown; header?: { member_id?: unknown } };
    const memberId = String(status.header?.member_id ?? '');
    const leader = String(status.leader ?? '');
    if (memberId === '' || leader === '' || leader === '0') return undefined;
    return { member, memberId, leader };
  } catch {
    return undefined; // down, paused or partitioned: the others decide
  }
}

/**
 * The member that leads now: every member is asked in parallel for
 * `/v3/maintenance/status`; the leader is the member whose own id
 * (`header.member_id`) is the `leader` most answers name. Ids come from the
 * members themselves, so this needs no knowledge of how ids are derived.
 */
export async function findLeader(view: ClusterView): Promise<MemberView> {
  const answers = (await Promise.all(view.members.map(statusOf))).filter((answer): answer is StatusAnswer => answer !== undefined);
  if (answers.length === 0) throw new NoLeaderError('no member answered /v3/maintenance/status');
  const votes = new Map<string, number>();
  for (const answer of answers) votes.set(answer.leader, (votes.get(answer.leader) ?? 0) + 1);
  const [leaderId] = [...votes.entries()].sort((a, b) => b[1] - a[1])[0]!;
  const leader = answers.find((answer) => answer.memberId === leaderId);
  if (!leader) throw new NoLeaderError(`members name leader ${leaderId}, which did not answer itself`);
  return leader.member;
}
