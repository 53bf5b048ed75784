import { spawnSync } from 'node:child_process';
import { fnv64 } from '../node/identity.js';
import { CommandFailedError, UnsupportedError } from './errors.js';
import { COMMAND_TIMEOUT_MS } from './limits.js';

/**
 * Network namespaces for a keel cluster, so network faults hit real traffic
 * (`keel up --netns`). Each member gets a namespace `keel-<cluster>-<id>`
 * whose `eth0` is one end of a veth pair; the other ends hang off a bridge in
 * the root namespace. Addresses come from 198.18.0.0/15 only (RFC 2544's
 * benchmarking range, routed nowhere): the cluster's /24 is 198.18.<k>.0 with
 * k drawn from the cluster name, members take .1, .2, ..., the bridge .254 so
 * the host reaches them. Interface names are at most 15 characters (the
 * kernel's limit): `kc<6 hex>` for the bridge, `kc<6 hex>v<n>` for the veths.
 */
export interface NetnsMember {
  readonly id: string;
  readonly netns: string;
  readonly address: string;
  readonly hostVeth: string;
}

export interface NetnsCluster {
  readonly bridge: string;
  readonly bridgeAddress: string;
  readonly members: readonly NetnsMember[];
}

/** The interface name inside each namespace. */
export const NETNS_DEVICE = 'eth0';
/** Prefix of every namespace keel creates; heal sweeps only these. */
export const NETNS_PREFIX = 'keel-';

/** Why namespaces cannot be used here, or undefined when they can. */
export function netnsUnavailableReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'network namespaces need root';
  const probe = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8', timeout: COMMAND_TIMEOUT_MS });
  if (probe.error || probe.status !== 0) return `\`ip netns\` is unavailable: ${probe.error?.message ?? probe.stderr.trim()}`;
  // Partitions are nft rules inside the namespaces (network-faults.ts).
  const nft = spawnSync('nft', ['--version'], { encoding: 'utf8', timeout: COMMAND_TIMEOUT_MS });
  if (nft.error || nft.status !== 0) return 'nft is not installed (apt-get install nftables)';
  return undefined;
}

let netemProbe: string | undefined | null = null;

/**
 * Why tc's netem qdisc cannot be used here, or undefined when it can: some
 * kernels are built without it (this project's CI kernel is one). Probed
 * once per process on the loopback device of a scratch namespace, so no
 * interface anything uses is touched.
 */
export function netemUnavailableReason(): string | undefined {
  if (netemProbe !== null) return netemProbe;
  const base = netnsUnavailableReason();
  if (base) return (netemProbe = base);
  const scratch = `${NETNS_PREFIX}probe-${process.pid}`;
  const run = (...args: string[]): ReturnType<typeof spawnSync> => spawnSync(args[0]!, args.slice(1), { encoding: 'utf8', timeout: COMMAND_TIMEOUT_MS });
  try {
    const added = run('ip', 'netns', 'add', scratch);
    if (added.status !== 0) return (netemProbe = `could not create a scratch namespace to probe netem: ${String(added.stderr).trim()}`);
    const probe = run('ip', 'netns', 'exec', scratch, 'tc', 'qdisc', 'add', 'dev', 'lo', 'root', 'netem', 'delay', '1ms');
    netemProbe = probe.status === 0 ? undefined : `tc netem is not in this kernel: ${String(probe.stderr).trim()}`;
    return netemProbe;
  } finally {
    run('ip', 'netns', 'del', scratch);
  }
}

/** The namespaces, addresses and interface names a cluster would get (pure). */
export function planNetns(clusterName: string, memberIds: readonly string[]): NetnsCluster {
  const hash = fnv64(clusterName);
  const tag = hash.toString(16).padStart(16, '0').slice(0, 6);
  const subnet = Number(hash % 256n);
  return {
    bridge: `kc${tag}`,
    bridgeAddress: `198.18.${subnet}.254`,
    members: memberIds.map((id, index) => ({ id, netns: `${NETNS_PREFIX}${clusterName.replace(/^keel-/, '')}-${id}`, address: `198.18.${subnet}.${index + 1}`, hostVeth: `kc${tag}v${index + 1}` })),
  };
}

/**
 * Whether an interface of the host already holds an address in the plan's
 * /24 (another cluster whose name hashed to the same subnet): two bridges on
 * one /24 would route one cluster's traffic into the other's.
 */
export function subnetInUse(plan: NetnsCluster): boolean {
  const prefix = plan.bridgeAddress.slice(0, plan.bridgeAddress.lastIndexOf('.') + 1);
  const listing = spawnSync('ip', ['-4', '-o', 'addr', 'show'], { encoding: 'utf8', timeout: COMMAND_TIMEOUT_MS });
  return (listing.stdout ?? '').split('\n').some((line) => line.includes(` inet ${prefix}`));
}

function ip(...args: string[]): void {
  const result = spawnSync('ip', args, { encoding: 'utf8', timeout: COMMAND_TIMEOUT_MS });
  if (result.status !== 0) throw new CommandFailedError(['ip', ...args], `${result.stderr ?? ''}${result.error?.message ?? ''}`);
}

function quietly(...args: string[]): void {
  spawnSync('ip', args, { encoding: 'utf8', timeout: COMMAND_TIMEOUT_MS });
}

/**
 * Creates the bridge, the namespaces and their veths (removing leftovers of
 * the same names first: a previous run that was killed). Undone by
 * {@link destroyNetns}, also when creation fails halfway.
 */
export function createNetns(plan: NetnsCluster): void {
  const reason = netnsUnavailableReason();
  if (reason) throw new UnsupportedError(reason);
  destroyNetns(plan);
  try {
    ip('link', 'add', plan.bridge, 'type', 'bridge');
    ip('addr', 'add', `${plan.bridgeAddress}/24`, 'dev', plan.bridge);
    ip('link', 'set', plan.bridge, 'up');
    for (const member of plan.members) {
      const peer = `${member.hostVeth}p`;
      ip('netns', 'add', member.netns);
      ip('link', 'add', member.hostVeth, 'type', 'veth', 'peer', 'name', peer);
      ip('link', 'set', peer, 'netns', member.netns);
      ip('link', 'set', member.hostVeth, 'master', plan.bridge);
      ip('link', 'set', member.hostVeth, 'up');
      ip('-n', member.netns, 'link', 'set', 'lo', 'up');
      ip('-n', member.netns, 'link', 'set', peer, 'name', NETNS_DEVICE);
      ip('-n', member.netns, 'addr', 'add', `${member.address}/24`, 'dev', NETNS_DEVICE);
      ip('-n', member.netns, 'link', 'set', NETNS_DEVICE, 'up');
      ip('-n', member.netns, 'route', 'add', 'default', 'via', plan.bridgeAddress);
    }
  } catch (error) {
    destroyNetns(plan);
    throw error;
  }
}

/** Removes the namespaces (their veth ends, and so the pairs, go with them), the host veths and the bridge. Idempotent. */
export function destroyNetns(plan: NetnsCluster): void {
  for (const member of plan.members) {
    quietly('netns', 'del', member.netns);
    quietly('link', 'del', member.hostVeth);
  }
  quietly('link', 'del', plan.bridge);
}

/** The argv prefix that runs a command inside a member's namespace (`ip netns exec` execs it: the pid stays the command's). */
export function inNetns(netns: string): string[] {
  return ['ip', 'netns', 'exec', netns];
}
