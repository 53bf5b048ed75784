import type { Random } from '../resilience/index.js';
import { findLeader, type ClusterView, type MemberView } from './cluster-view.js';
import { ClusterFileError, InvalidFaultError, TargetNotFoundError, UnknownSelectorError } from './errors.js';
import { processExists } from './process-identity.js';

/**
 * Which processes a fault hits. Written as text on the command line and in
 * the TypeScript API alike:
 *
 *   leader            the member that leads now (asked over /v3/maintenance/status)
 *   follower          one member that does not lead, picked by the seeded PRNG
 *   followers         every member that does not lead
 *   all               every member
 *   zone:<z>          every member of zone z
 *   gateway           keel up's gateway
 *   <member id>       that member (n1, n2, ...)
 *   pid:<n> or <n>    any process, by pid
 */
export type Selector =
  | { readonly kind: 'leader' }
  | { readonly kind: 'follower' }
  | { readonly kind: 'followers' }
  | { readonly kind: 'all' }
  | { readonly kind: 'gateway' }
  | { readonly kind: 'zone'; readonly zone: string }
  | { readonly kind: 'member'; readonly id: string }
  | { readonly kind: 'pid'; readonly pid: number };

/** A process a fault will hit. `pid` is null when the member is down right now (its supervisor restarting it). */
export interface Target {
  /** How reports name it: `n2 (leader)`, `gateway`, `pid 1234`. */
  readonly label: string;
  readonly pid: number | null;
  readonly member?: MemberView;
}

const KEYWORDS = ['leader', 'follower', 'followers', 'all', 'gateway'] as const;
const SELECTOR_HELP = 'expected leader, follower, followers, all, gateway, zone:<z>, a member id (n1) or a pid (pid:<n>)';

/** Parses a selector's text; refuses what is not one (no cluster needed). */
export function parseSelector(text: string): Selector {
  const value = text.trim();
  if ((KEYWORDS as readonly string[]).includes(value)) return { kind: value as (typeof KEYWORDS)[number] };
  if (value.startsWith('zone:')) {
    const zone = value.slice(5);
    if (!/^[a-z0-9-]{1,32}$/i.test(zone)) throw new UnknownSelectorError(text, 'a zone is letters, digits or -');
    return { kind: 'zone', zone };
  }
  const pidText = value.startsWith('pid:') ? value.slice(4) : /^\d+$/.test(value) ? value : undefined;
  if (pidText !== undefined) {
    const pid = Number(pidText);
    if (!/^\d+$/.test(pidText) || !Number.isSafeInteger(pid) || pid < 2) throw new UnknownSelectorError(text, 'a pid is an integer of 2 or more');
    if (pid === process.pid) throw new UnknownSelectorError(text, 'that is keel chaos itself');
    return { kind: 'pid', pid };
  }
  if (/^[A-Za-z][A-Za-z0-9_.-]{0,62}$/.test(value)) return { kind: 'member', id: value };
  throw new UnknownSelectorError(text, SELECTOR_HELP);
}

function memberTarget(member: MemberView, role?: string): Target {
  return { label: role ? `${member.id} (${role})` : member.id, pid: member.pid, member };
}

function needCluster(view: ClusterView | undefined, text: string): ClusterView {
  if (!view) throw new ClusterFileError(undefined, `target ${JSON.stringify(text)} names cluster members: give the keel up data dir (--data-dir) or a cluster view`);
  return view;
}

/**
 * The processes `selector` names now. Refuses (before anything is injected)
 * a selector that matches nothing. `follower` draws from `random`, so one
 * seed picks the same member again.
 */
export async function resolveTargets(selector: Selector, text: string, view: ClusterView | undefined, random: Random): Promise<Target[]> {
  switch (selector.kind) {
    case 'pid': {
      if (!processExists(selector.pid)) throw new TargetNotFoundError(text, `no process ${selector.pid}`);
      const member = view?.members.find((candidate) => candidate.pid === selector.pid);
      return [member ? memberTarget(member) : { label: `pid ${selector.pid}`, pid: selector.pid }];
    }
    case 'gateway': {
      const gateway = needCluster(view, text).gateway;
      if (!gateway) throw new TargetNotFoundError(text, 'this cluster runs no gateway (keel up --no-gateway)');
      return [{ label: 'gateway', pid: gateway.pid }];
    }
    case 'all':
      return needCluster(view, text).members.map((member) => memberTarget(member));
    case 'zone': {
      const cluster = needCluster(view, text);
      const members = cluster.members.filter((member) => member.zone === selector.zone);
      if (members.length === 0) throw new TargetNotFoundError(text, `no member in zone ${selector.zone}; zones: ${[...new Set(cluster.members.map((m) => m.zone))].join(', ')}`);
      return members.map((member) => memberTarget(member));
    }
    case 'member': {
      const cluster = needCluster(view, text);
      const member = cluster.members.find((candidate) => candidate.id === selector.id);
      if (!member) throw new TargetNotFoundError(text, `no member ${selector.id}; members: ${cluster.members.map((m) => m.id).join(', ')}; ${SELECTOR_HELP}`);
      return [memberTarget(member)];
    }
    case 'leader':
      return [memberTarget(await findLeader(needCluster(view, text)), 'leader')];
    case 'follower':
    case 'followers': {
      const cluster = needCluster(view, text);
      const leader = await findLeader(cluster);
      const followers = cluster.members.filter((member) => member.id !== leader.id);
      if (followers.length === 0) throw new TargetNotFoundError(text, 'the cluster has no follower');
      if (selector.kind === 'followers') return followers.map((member) => memberTarget(member, 'follower'));
      return [memberTarget(followers[Math.floor(random.next() * followers.length)]!, 'follower')];
    }
  }
}

/**
 * The cluster members `text` selects, for faults applied through a member
 * (its client port, its faultfs mount); refuses a selector that names none,
 * saying `how` the fault reaches a member.
 */
export async function resolveMemberTargets(text: string, view: ClusterView | undefined, random: Random, how: string): Promise<Target[]> {
  const members = (await resolveTargets(parseSelector(text), text, view, random)).filter((target) => target.member !== undefined);
  if (members.length === 0) throw new InvalidFaultError(`${how}: ${text} names no member of the cluster`);
  return members;
}
