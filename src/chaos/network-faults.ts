import type { Random } from '../resilience/index.js';
import { commandOutput, type Action } from './actions.js';
import { findLeader, type ClusterView, type MemberView } from './cluster-view.js';
import { InvalidFaultError, UnknownFaultError, UnsupportedError } from './errors.js';
import { inNetns, NETNS_DEVICE, NETNS_PREFIX, netnsUnavailableReason } from './netns.js';
import type { PlanContext, PlannedFault } from './plan.js';
import { parseSelector, resolveTargets } from './targets.js';

/**
 * Network faults on members in namespaces (`keel up --netns`): partitions as
 * nft rules inside the namespaces, and link faults as qdiscs on each
 * namespace's eth0. Everything they add is tagged with the fault id: nft
 * tables are named `keelchaos_<id>` (their rules commented `keel-chaos:<id>`),
 * qdiscs get the root handle 4b43: ("KC"), which the kernel checks on delete,
 * so an undo never removes a qdisc keel chaos did not add.
 */
export const PARTITION_SHAPES = ['isolate', 'isolate-leader', 'leader-minority', 'halves', 'majorities-ring', 'bridge', 'one-way', 'all'] as const;
export type PartitionShape = (typeof PARTITION_SHAPES)[number];

export interface PartitionSpec {
  readonly kind: 'partition';
  readonly shape: PartitionShape;
  /** isolate and one-way: the members cut off (a selector); the others ignore it. */
  readonly target?: string;
  /**
   * A lossy partition: each cut link drops this share of packets (drawn per
   * packet by nft's numgen) instead of all of them. Unlike netem's loss it
   * needs no qdisc, so it works on kernels built without netem.
   */
  readonly lossPercent?: number;
  readonly durationMs: number;
}

export interface LinkFaultSpec {
  readonly kind: 'netem';
  /** Whose outgoing traffic is shaped (a selector). */
  readonly target: string;
  /**
   * Only the traffic to these members (a selector): the link target → to,
   * one direction (add the reverse fault for both). Without it, all of the
   * target's outgoing traffic.
   */
  readonly to?: string;
  readonly durationMs: number;
  readonly delayMs?: number;
  readonly jitterMs?: number;
  readonly lossPercent?: number;
  readonly duplicatePercent?: number;
  readonly reorderPercent?: number;
  readonly corruptPercent?: number;
  /** Bandwidth cap in kbit/s (tbf alone, or netem's rate with the others). */
  readonly rateKbit?: number;
}

const TABLE_PREFIX = 'keelchaos_';
const QDISC_HANDLE = '4b43:';
/** The netem leaf under a per-link class (removed with the root). */
const LEAF_HANDLE = '4b44:';
/** An htb class that shapes nothing (faster than any veth here). */
const UNSHAPED_RATE = '100gbit';
/** htb's default quantum for such a rate is over its limit (a warning per class): one jumbo frame is plenty. */
const HTB_QUANTUM = '60000';
const ABSENT = 'No such file|does not exist|Cannot find|Invalid handle|Could not process rule';

/** Members in namespaces, or a refusal naming what is missing. */
function namespacedMembers(view: ClusterView | undefined): MemberView[] {
  const reason = netnsUnavailableReason();
  if (reason) throw new UnsupportedError(`network faults: ${reason}; use keel chaos proxy (Toxiproxy API) without root`);
  if (!view) throw new UnsupportedError('network faults need the cluster: give the keel up data dir');
  const members = view.members.filter((member) => member.netns !== undefined && member.address !== undefined);
  if (members.length !== view.members.length) throw new UnsupportedError('network faults need members in namespaces: start the cluster with keel up --netns');
  return members;
}

function shuffled<T>(items: readonly T[], random: Random): T[] {
  const copy = [...items];
  for (let index = copy.length - 1; index > 0; index--) {
    const other = Math.floor(random.next() * (index + 1));
    [copy[index], copy[other]] = [copy[other]!, copy[index]!];
  }
  return copy;
}

/** Grudges, as Jepsen's nemesis keeps them: for each member, the members whose packets it drops. */
type Grudge = Map<string, Set<string>>;

function cut(grudge: Grudge, a: readonly MemberView[], b: readonly MemberView[]): void {
  for (const x of a) for (const y of b) {
    if (x.id === y.id) continue;
    grudge.get(x.id)!.add(y.id);
    grudge.get(y.id)!.add(x.id);
  }
}

/** The grudge of each shape (Jepsen's partition shapes). */
export async function grudgeOf(spec: PartitionSpec, members: readonly MemberView[], context: PlanContext): Promise<Grudge> {
  const grudge: Grudge = new Map(members.map((member) => [member.id, new Set<string>()]));
  const targetsOf = async (text: string): Promise<MemberView[]> =>
    (await resolveTargets(parseSelector(text), text, context.view, context.random)).map((target) => target.member).filter((member): member is MemberView => member !== undefined);
  switch (spec.shape) {
    case 'isolate':
    case 'isolate-leader': {
      const isolated = spec.shape === 'isolate-leader' ? [await findLeader(context.view!)] : await targetsOf(spec.target ?? 'follower');
      cut(grudge, isolated, members.filter((member) => !isolated.some((x) => x.id === member.id)));
      return grudge;
    }
    case 'one-way': {
      // The targets hear no one; everyone still hears them.
      const deaf = await targetsOf(spec.target ?? 'follower');
      for (const x of deaf) for (const y of members) if (x.id !== y.id) grudge.get(x.id)!.add(y.id);
      return grudge;
    }
    case 'leader-minority': {
      // Split brain: the leader and floor(n/2)-1 followers (2 of 5) on the minority side, the rest a majority without it.
      const leader = await findLeader(context.view!);
      const followers = shuffled(members.filter((member) => member.id !== leader.id), context.random);
      const minority = [leader, ...followers.slice(0, Math.floor(members.length / 2) - 1)];
      cut(grudge, minority, members.filter((member) => !minority.includes(member)));
      return grudge;
    }
    case 'halves': {
      const order = shuffled(members, context.random);
      const half = Math.floor(order.length / 2);
      cut(grudge, order.slice(0, half), order.slice(half));
      return grudge;
    }
    case 'bridge': {
      // Two halves that cannot hear each other, and one member both hear.
      const order = shuffled(members, context.random);
      const half = Math.floor(order.length / 2);
      cut(grudge, order.slice(0, half), order.slice(half + 1));
      return grudge;
    }
    case 'all': {
      // Every link cut: no member hears another. With lossPercent, uniform packet loss on every link instead.
      cut(grudge, members, members);
      return grudge;
    }
    case 'majorities-ring': {
      // Each member hears a majority (itself and its nearest ring neighbours), no two the same one.
      const order = shuffled(members, context.random);
      const others = Math.floor(order.length / 2);
      order.forEach((member, index) => {
        const hears = new Set<string>([member.id]);
        for (let step = 1; hears.size <= others; step++) {
          hears.add(order[(index + step) % order.length]!.id);
          if (hears.size <= others) hears.add(order[(index - step + order.length) % order.length]!.id);
        }
        for (const other of order) if (!hears.has(other.id)) grudge.get(member.id)!.add(other.id);
      });
      return grudge;
    }
  }
}

export async function planPartition(spec: PartitionSpec, context: PlanContext): Promise<PlannedFault> {
  if (!(PARTITION_SHAPES as readonly string[]).includes(spec.shape)) throw new UnknownFaultError(`partition ${String(spec.shape)}`, PARTITION_SHAPES.map((shape) => `partition ${shape}`));
  if (spec.durationMs === undefined) throw new InvalidFaultError('a partition needs a duration (its lease)');
  const loss = spec.lossPercent;
  if (loss !== undefined && !(Number.isInteger(loss) && loss >= 1 && loss <= 100)) throw new InvalidFaultError(`partition loss ${String(loss)}: a whole percentage from 1 to 100`);
  // numgen draws 0..99 per packet: below `loss` is dropped.
  const dropping = loss === undefined || loss === 100 ? ['drop'] : ['numgen', 'random', 'mod', '100', '<', String(loss), 'drop'];
  const members = namespacedMembers(context.view);
  const grudge = await grudgeOf(spec, members, context);
  const table = `${TABLE_PREFIX}${context.id}`;
  const inject: Action[] = [];
  const undo: Action[] = [];
  const lines: string[] = [];
  for (const member of members) {
    const drops = [...grudge.get(member.id)!].map((id) => members.find((candidate) => candidate.id === id)!);
    if (drops.length === 0) continue;
    lines.push(`${member.id} drops ${loss !== undefined && loss < 100 ? `${loss}% of ` : ''}${drops.map((drop) => drop.id).join(', ')}`);
    const nft = [...inNetns(member.netns!), 'nft'];
    inject.push(
      { op: 'run', argv: [...nft, 'add', 'table', 'inet', table] },
      { op: 'run', argv: [...nft, 'add', 'chain', 'inet', table, 'input', '{ type filter hook input priority -10 ; policy accept ; }'] },
      { op: 'run', argv: [...nft, 'add', 'rule', 'inet', table, 'input', 'ip', 'saddr', `{ ${drops.map((drop) => drop.address).join(', ')} }`, ...dropping, 'comment', `"keel-chaos:${context.id}"`] },
    );
    undo.push({ op: 'run', argv: [...nft, 'delete', 'table', 'inet', table], absentOk: ABSENT });
  }
  if (inject.length === 0) throw new InvalidFaultError(`partition ${spec.shape} cuts nothing in a ${members.length}-member cluster`);
  return { kind: 'partition', description: `partition ${spec.shape} (${lines.join('; ')}) for ${spec.durationMs} ms`, inject, undo, durationMs: spec.durationMs, notes: lines };
}

function percent(name: string, value: number | undefined): string[] {
  if (value === undefined) return [];
  if (!(value >= 0 && value <= 100)) throw new InvalidFaultError(`${name} is a percentage in [0, 100]`);
  return [name, `${value}%`];
}

/** netem's own arguments (delay, loss, ...; not the rate), validated; empty for a bare bandwidth cap. */
function netemArguments(spec: LinkFaultSpec): string[] {
  const netem = [
    ...(spec.delayMs !== undefined ? ['delay', `${spec.delayMs}ms`, ...(spec.jitterMs ? [`${spec.jitterMs}ms`] : [])] : []),
    ...percent('loss', spec.lossPercent),
    ...percent('duplicate', spec.duplicatePercent),
    ...percent('reorder', spec.reorderPercent),
    ...percent('corrupt', spec.corruptPercent),
  ];
  if (spec.reorderPercent !== undefined && spec.delayMs === undefined) throw new InvalidFaultError('reordering needs a delay (netem reorders by sending some packets without it)');
  if (spec.rateKbit !== undefined && (!Number.isInteger(spec.rateKbit) || spec.rateKbit < 8)) throw new InvalidFaultError('rateKbit is an integer of 8 or more');
  if (netem.length === 0 && spec.rateKbit === undefined) throw new InvalidFaultError('netem needs at least one of delayMs, lossPercent, duplicatePercent, reorderPercent, corruptPercent, rateKbit');
  return netem;
}

/** The tc arguments for a link fault: tbf for a bare bandwidth cap, netem for the rest. */
export function qdiscArguments(spec: LinkFaultSpec): string[] {
  const netem = netemArguments(spec);
  if (netem.length === 0) return ['tbf', 'rate', `${spec.rateKbit}kbit`, 'burst', '32kbit', 'latency', '400ms'];
  return ['netem', ...netem, ...(spec.rateKbit !== undefined ? ['rate', `${spec.rateKbit}kbit`] : [])];
}

/**
 * The tc commands that shape one member's traffic to some destinations only:
 * an htb root with keel chaos's handle, class :1 (the default, unshaped) and
 * class :2 (capped at rateKbit, else unshaped) holding the netem qdisc, and a
 * u32 filter per destination address sending its packets to :2. Deleting
 * the root handle removes all of it, so undo and the sweep stay one command.
 */
export function perLinkCommands(tc: readonly string[], destinations: readonly string[], spec: LinkFaultSpec): string[][] {
  const netem = netemArguments(spec);
  const classRate = spec.rateKbit !== undefined ? `${spec.rateKbit}kbit` : UNSHAPED_RATE;
  const qdisc = [...tc, 'qdisc'];
  const commands: string[][] = [
    [...qdisc, 'add', 'dev', NETNS_DEVICE, 'root', 'handle', QDISC_HANDLE, 'htb', 'default', '1'],
    [...tc, 'class', 'add', 'dev', NETNS_DEVICE, 'parent', QDISC_HANDLE, 'classid', `${QDISC_HANDLE}1`, 'htb', 'rate', UNSHAPED_RATE, 'quantum', HTB_QUANTUM],
    [...tc, 'class', 'add', 'dev', NETNS_DEVICE, 'parent', QDISC_HANDLE, 'classid', `${QDISC_HANDLE}2`, 'htb', 'rate', classRate, 'ceil', classRate, ...(spec.rateKbit !== undefined ? ['burst', '4kb'] : ['quantum', HTB_QUANTUM])],
  ];
  if (netem.length > 0) commands.push([...qdisc, 'add', 'dev', NETNS_DEVICE, 'parent', `${QDISC_HANDLE}2`, 'handle', LEAF_HANDLE, 'netem', ...netem]);
  for (const address of destinations) {
    commands.push([...tc, 'filter', 'add', 'dev', NETNS_DEVICE, 'parent', QDISC_HANDLE, 'protocol', 'ip', 'prio', '1', 'u32', 'match', 'ip', 'dst', `${address}/32`, 'flowid', `${QDISC_HANDLE}2`]);
  }
  return commands;
}

export async function planLinkFault(spec: LinkFaultSpec, context: PlanContext): Promise<PlannedFault> {
  const args = qdiscArguments(spec);
  const members = namespacedMembers(context.view);
  const inNamespaces = async (selector: string): Promise<MemberView[]> => {
    const targets = await resolveTargets(parseSelector(selector), selector, context.view, context.random);
    return targets.map((target) => members.find((member) => member.id === target.member?.id)).filter((member): member is MemberView => member !== undefined);
  };
  const shaped = await inNamespaces(spec.target);
  if (shaped.length === 0) throw new InvalidFaultError(`netem: ${spec.target} names no member in a namespace`);
  const destinations = spec.to === undefined ? undefined : await inNamespaces(spec.to);
  if (destinations !== undefined && destinations.length === 0) throw new InvalidFaultError(`netem --to: ${spec.to} names no member in a namespace`);
  const inject: Action[] = [];
  const undo: Action[] = [];
  for (const member of shaped) {
    const tc = [...inNetns(member.netns!), 'tc'];
    if (destinations === undefined) {
      inject.push({ op: 'run', argv: [...tc, 'qdisc', 'add', 'dev', NETNS_DEVICE, 'root', 'handle', QDISC_HANDLE, ...args] });
    } else {
      const others = destinations.filter((destination) => destination.id !== member.id);
      if (others.length === 0) throw new InvalidFaultError(`netem: a link from ${member.id} to ${spec.to} needs a member other than ${member.id}`);
      for (const argv of perLinkCommands(tc, others.map((destination) => destination.address!), spec)) inject.push({ op: 'run', argv });
    }
    undo.push({ op: 'run', argv: [...tc, 'qdisc', 'del', 'dev', NETNS_DEVICE, 'root', 'handle', QDISC_HANDLE], absentOk: ABSENT });
  }
  const links = destinations === undefined ? `${shaped.map((member) => member.id).join(', ')} (outgoing)` : `${shaped.map((member) => member.id).join(', ')} -> ${destinations.map((member) => member.id).join(', ')}`;
  const what = destinations === undefined ? args : [...(spec.rateKbit !== undefined ? ['htb', 'rate', `${spec.rateKbit}kbit`] : []), ...(args[0] === 'netem' ? ['netem', ...netemArguments(spec)] : [])];
  return { kind: 'netem', description: `${what.join(' ')} on ${links} for ${spec.durationMs} ms`, inject, undo, durationMs: spec.durationMs, notes: [] };
}

/**
 * Removes tagged leftovers in keel's namespaces: nft tables named
 * keelchaos_* and root qdiscs with handle 4b43:. Namespaces not named keel-*
 * are not looked at; with `only`, just those of them.
 */
export function sweepNetwork(only?: readonly string[]): string[] {
  if (netnsUnavailableReason()) return [];
  const swept: string[] = [];
  const namespaces = commandOutput(['ip', 'netns', 'list']).split('\n').map((line) => line.split(' ')[0]!).filter((name) => name.startsWith(NETNS_PREFIX) && (only === undefined || only.includes(name)));
  for (const netns of namespaces) {
    try {
      for (const line of commandOutput([...inNetns(netns), 'nft', 'list', 'tables']).split('\n')) {
        const table = /^table inet (keelchaos_[a-z0-9]+)$/.exec(line.trim())?.[1];
        if (!table) continue;
        commandOutput([...inNetns(netns), 'nft', 'delete', 'table', 'inet', table]);
        swept.push(`${netns}: nft table ${table}`);
      }
      if (/qdisc \S+ 4b43: root/.test(commandOutput([...inNetns(netns), 'tc', 'qdisc', 'show', 'dev', NETNS_DEVICE]))) {
        commandOutput([...inNetns(netns), 'tc', 'qdisc', 'del', 'dev', NETNS_DEVICE, 'root', 'handle', QDISC_HANDLE]);
        swept.push(`${netns}: qdisc ${QDISC_HANDLE} on ${NETNS_DEVICE}`);
      }
    } catch {
      // the namespace went away meanwhile, or has no eth0
    }
  }
  return swept;
}
