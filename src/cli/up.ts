import { Command, InvalidArgumentError } from 'commander';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { Agent } from 'undici';
import { lockDataDir, prepareDataDir } from '../node/data-dir.js';
import { clusterIdOf, memberIdOf } from '../node/identity.js';
import { EXIT_PERMANENT } from './exit-codes.js';
import { busyPorts, type PlannedPort } from './port-check.js';
import { ensureIssued, localPkiFiles, writeLocalPki } from './local-pki.js';
import type { LocalPki } from './local-pki.js';
import { parseLogFormat } from '../node/logger.js';
import type { LogFormat } from '../node/logger.js';
import { createNetns, destroyNetns, inNetns, planNetns } from '../chaos/netns.js';
import { restartRequestPath } from '../chaos/cluster-view.js';
import { addObserveOptions, observeOptionsWithoutObserve, observePorts, planObserve, startObserve, type ObserveFlags, type ObservePlan } from './up-observe.js';
import type { ObserveStack } from '../observe/stack/index.js';
import { faultfsMountPointOf, mountMemberDisks, upFaultfsRefusal, type MemberDisks } from './up-faultfs.js';
import { UP_DASHBOARD_PORT_DEFAULT, dashboardChildArgs, dashboardUrlOf } from '../observe/dashboard/index.js';

/**
 * `keel up`: the embedded default. Starts a cluster of members on loopback
 * (zones a, b, c, ...) on etcd's conventional local ports, writes
 * cluster.json, restarts any member that dies (with backoff, and says so),
 * and on Ctrl-C or SIGTERM stops every member gracefully.
 */

/** etcd's local-cluster convention: clients on 2379, 22379, 32379; peers one above. */
const PORT_OFFSETS = [0, 20_000, 30_000, 40_000, 50_000, 10_000, 60_000] as const;
const ZONES = ['a', 'b', 'c', 'd', 'e', 'f', 'g'] as const;
const RESTART_DELAY_MS_MIN = 500;
const RESTART_DELAY_MS_MAX = 10_000;
/**
 * With the gateway, a member stopped with SIGTERM keeps serving this long
 * with /readyz failing (--shutdown-drain-ms), so the gateway's health check
 * (every 1 s, unhealthy after 2 failures, 0.5 s timeout: at most 2.5 s)
 * routes away before the member closes its port.
 */
const MEMBER_DRAIN_MS = 3_000;
/** A member up this long is considered healthy again: its restart backoff resets. */
const STABLE_AFTER_MS = 30_000;
const STOP_GRACE_MS = 10_000;
const STATUS_POLL_MS = 1_000;
/** How much of a member's log the supervisor reads to find why it exited. */
const LOG_TAIL_BYTES = 16_384;
/**
 * V8 flags each member starts with. Most of what a write allocates (its
 * record, key and value) survives, and a scavenge's pause grows with what
 * survives, so Node 20's 16 MiB semi-spaces made scavenges a member's
 * longest GC pauses under a write load. 8 MiB: in bench/young-gen.ts the
 * longest scavenge fell to 0.63x (4 MiB: 0.52x, with twice the scavenges)
 * for about the same total. (In bench:scale on the shared 2-core machine
 * the longest scavenge followed the machine's load more than this flag:
 * README "At scale".) The Dockerfile and the systemd unit set
 * the same through NODE_OPTIONS. A flag of the same name given to keel up
 * itself wins.
 *
 * `--initial-old-space-size=256`: V8 counts the external memory allocated
 * since its last full collection (every large Buffer: a MiB value's
 * request, its log entry, WAL batch and peer frames) against the old
 * generation's limit, and a small heap has a small limit (35 MB at a 20 MB
 * heap), so 1 MiB puts started a full mark every 100 ms or so, and V8's
 * concurrent marking threads used more CPU than the member's own loop
 * (`perf record` of a member in bench:scale's fill A). With the limit at
 * least 256 MB until the heap outgrows it, the full collections come from
 * V8's external-memory trigger (every 64 MiB) instead: in
 * `npm run bench:scale -- --only keel --quota-mib 512 --fill-a-ratio 0.9`,
 * two rounds each, fill A ran at 68 MiB/s against 47 without, with about
 * a quarter of the full collections and the same peak RSS (128: 64 MiB/s).
 * A heap past 256 MB (fill B's millions of keys) gets V8's usual limits.
 */
export const MEMBER_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=8', '--initial-old-space-size=256'];

/**
 * glibc malloc settings each member starts with (environment variables
 * glibc reads at start; other C libraries ignore them). By default glibc
 * serves an allocation of 128 KiB or more with its own mmap and unmaps it
 * when freed, so every large buffer a write goes through (a MiB value's
 * request, log entry, WAL batch, peer frames) is fresh memory, touched a
 * page fault at a time: building a 1 MiB put's log entry took 46 minor
 * faults and 233 µs of CPU with glibc's defaults, 16 and 155 µs with these
 * settings (`npx tsx bench/large-entry.ts`, "now" rows). With the
 * mmap threshold at 32 MiB such buffers come from malloc's heap and are
 * reused; with the trim threshold at 256 MiB the heap keeps up to that much
 * free memory instead of handing it back after each burst (RSS stays at its
 * high-water mark, as a Go member's heap does). In bench/kv-grpc.ts, 1 MB
 * puts from 4 clients: 37 and 38 puts/s against 28 and 29 without (two
 * rounds each, load 6-8). A value already in keel up's environment wins.
 */
export const MEMBER_MALLOC_ENV: Readonly<Record<string, string>> = {
  MALLOC_MMAP_THRESHOLD_: String(32 * 1024 * 1024),
  MALLOC_TRIM_THRESHOLD_: String(256 * 1024 * 1024),
};

/** keel up's environment for a member: {@link MEMBER_MALLOC_ENV} under whatever keel up was given. */
export function memberEnvironment(environment: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return { ...MEMBER_MALLOC_ENV, ...environment };
}

export interface MemberPlan {
  readonly id: string;
  readonly zone: string;
  readonly clientPort: number;
  readonly peerPort: number;
  readonly dataDir: string;
  /** With --netns: the member's address and namespace (198.18.x.y in keel-<cluster>-<id>); else it listens on 127.0.0.1. */
  readonly host?: string;
  readonly netns?: string;
  /** With --faultfs: the mount point of the member's own faultfs (its --data-dir); `dataDir` is then the backing dir. */
  readonly faultfs?: string;
}

/** The data dir the member runs with: its faultfs mount point with --faultfs, else its own dir. */
function memberDataDirOf(plan: MemberPlan): string {
  return plan.faultfs ?? plan.dataDir;
}

/** Where a member listens: its namespace's address with --netns, else loopback. */
function hostOf(plan: MemberPlan): string {
  return plan.host ?? '127.0.0.1';
}

export function planCluster(nodes: number, basePort: number, dataDir: string): MemberPlan[] {
  return Array.from({ length: nodes }, (_, i) => {
    const clientPort = basePort + PORT_OFFSETS[i]!;
    return { id: `n${i + 1}`, zone: ZONES[i]!, clientPort, peerPort: clientPort + 1, dataDir: join(dataDir, `n${i + 1}`) };
  });
}

interface UpFlags extends ObserveFlags {
  nodes: number;
  basePort: number;
  dataDir: string;
  tickMs?: string;
  quiet?: boolean;
  gateway: boolean;
  gatewayPort: number;
  adminPort: number;
  dashboard: boolean;
  dashboardPort: number;
  logFormat: LogFormat;
  netns?: boolean;
  tls?: boolean;
  faultfs?: boolean;
}

/** A day: streams through keel up's gateway (watches, lease keep-alives, observes, lock waits) may last this long. */
const STREAM_MAX_MS = 86_400_000;
/**
 * The JSON gateway's long-lived calls: streams (watch, lease keep-alive,
 * election observe) and calls that wait for their turn (lock, campaign).
 * The default route's 15 s per-try timeout would cut them.
 */
const JSON_STREAM_PATHS = '^/v3/(watch|lease/keepalive|election/(observe|campaign)|lock/lock)$';

/**
 * The gateway keel up puts in front of the members, on one port for both
 * kinds of client: the JSON gateway over HTTP/1.1 and etcd's gRPC services
 * (etcdctl, etcd client libraries) over h2c, each a least-request cluster
 * of the members health-checked on /readyz (a member's client port serves
 * both). gRPC calls and the JSON gateway's streams may last a day.
 */
export function gatewayConfig(plans: readonly MemberPlan[], port: number, adminPort: number, upstreamTls?: { caFile: string; certFile: string; keyFile: string }): string {
  const endpoints = plans.map((p) => `      - { address: "${hostOf(p)}:${p.clientPort}", zone: ${p.zone} }`).join('\n');
  const cluster = (name: string, protocol: string) => [
    `  ${name}:`,
    `    protocol: ${protocol}`,
    '    balancer: least-request',
    // keel up --tls: mutual TLS to the members (their certificates name the loopback address), health checks too.
    ...(upstreamTls ? [`    tls: { caFile: ${JSON.stringify(upstreamTls.caFile)}, certFile: ${JSON.stringify(upstreamTls.certFile)}, keyFile: ${JSON.stringify(upstreamTls.keyFile)} }`] : []),
    '    endpoints:',
    endpoints,
    '    healthCheck: { path: /readyz, intervalMs: 1000, timeoutMs: 500, healthyThreshold: 1, unhealthyThreshold: 2 }',
  ];
  return [
    '# Written by keel up: the gateway in front of the local cluster.',
    'zone: a',
    `listeners: [{ port: ${port}, protocol: auto }]`,
    // Loopback only. With KEEL_GW_ADMIN_TOKEN in keel up's environment the gateway asks for it (the dashboard sends it);
    // /metrics stays open so --observe's Prometheus, which sends no token, still scrapes it.
    `admin: { port: ${adminPort}, openMetrics: true }`,
    'routes:',
    `  - { name: store-grpc, match: { headers: [{ name: content-type, regex: "^application/grpc" }] }, cluster: keel-grpc, timeoutMs: ${STREAM_MAX_MS}, perTryTimeoutMs: ${STREAM_MAX_MS} }`,
    `  - { name: store-streams, match: { regex: "${JSON_STREAM_PATHS}" }, cluster: keel, timeoutMs: ${STREAM_MAX_MS}, perTryTimeoutMs: ${STREAM_MAX_MS} }`,
    '  - { name: store, match: { prefix: / }, cluster: keel }',
    'clusters:',
    ...cluster('keel', 'http1'),
    ...cluster('keel-grpc', 'h2c'),
    '',
  ].join('\n');
}

export function upCommand(): Command {
  return addObserveOptions(new Command('up')
    .description('start a local cluster on loopback (3 members by default) and keep it running until Ctrl-C')
    .option('--nodes <n>', 'members: 1, 3, 5 or 7', parseNodes, 3)
    .option('--base-port <port>', 'first client port; the others follow etcd\'s convention (+20000, +30000, ...)', parsePort, 2379)
    .option('--data-dir <dir>', 'where members keep their data and cluster.json', './.keel')
    .option('--tick-ms <n>', 'raft tick for every member')
    .option('--quiet', 'print only errors')
    .option('--log-format <format>', 'members\' and the gateway\'s log format in their keel.log: json or pretty', parseLogFormat, 'json' as LogFormat)
    .option('--no-gateway', 'do not start a keel gateway in front of the members')
    .option('--gateway-port <port>', 'the gateway\'s listener', parsePort, 8080)
    .option('--admin-port <port>', 'the gateway\'s admin port (/clusters, /metrics)', parsePort, 9901)
    .option('--no-dashboard', 'do not serve the live dashboard')
    .option('--dashboard-port <port>', 'where the live dashboard is served (keel dashboard)', parsePort, UP_DASHBOARD_PORT_DEFAULT)
    .option('--tls', 'client and peer mutual TLS with a throwaway CA made under <data-dir>/tls (kept across restarts); prints the etcdctl flags')
    .option('--netns', 'run each member in its own network namespace (root; addresses from 198.18.0.0/15) so keel chaos network faults hit real traffic')
    .option('--faultfs', 'put each member\'s data dir on its own faultfs mount (root, FUSE) so keel chaos disk can slow or fail its disk')
    .action(async (flags: UpFlags) => {
      process.exitCode = await runUp(flags);
    }));
}

function parseNodes(value: string): number {
  const n = Number(value);
  if (![1, 3, 5, 7].includes(n)) throw new InvalidArgumentError('must be 1, 3, 5 or 7');
  return n;
}

function parsePort(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1024 || n > 65_534) throw new InvalidArgumentError('must be an integer port in [1024, 65534]');
  return n;
}

interface Supervised {
  /** A member's plan, or the gateway's (its id is "gateway"). */
  readonly plan: MemberPlan;
  readonly args: readonly string[];
  readonly logPath: string;
  child?: ChildProcess;
  restarts: number;
  startedAt: number;
  timer?: NodeJS.Timeout;
  /** Why it is down for good (a failure a restart cannot fix), if it is. */
  failed?: string;
}

/** The cluster name keel up gives a new data dir: its own, so no other local cluster shares its cluster id. */
function clusterNameFor(plans: readonly MemberPlan[], clusterFile: string): string {
  for (const plan of plans) {
    try {
      const identity = JSON.parse(readFileSync(join(plan.dataDir, 'member.json'), 'utf8')) as { cluster?: unknown };
      if (typeof identity.cluster === 'string' && identity.cluster !== '') return identity.cluster;
    } catch {
      // no identity yet: a new member, or unreadable (the member itself reports that)
    }
  }
  try {
    const previous = JSON.parse(readFileSync(clusterFile, 'utf8')) as { clusterName?: unknown };
    if (typeof previous.clusterName === 'string' && previous.clusterName !== '') return previous.clusterName;
  } catch {
    // first start
  }
  return `keel-${randomBytes(4).toString('hex')}`;
}

/** The last error a member logged before it exited, for the supervisor's report. */
function lastErrorOf(logPath: string): string | undefined {
  let text: string;
  try {
    const buffer = readFileSync(logPath);
    text = buffer.subarray(Math.max(0, buffer.length - LOG_TAIL_BYTES)).toString('utf8');
  } catch {
    return undefined;
  }
  const lines = text.split('\n').filter(Boolean).reverse();
  for (const line of lines) {
    if (line.startsWith('keel node: ') || line.startsWith('keel gateway: ') || line.startsWith('keel dashboard: ')) return line.slice(line.indexOf(': ') + 2);
  }
  for (const line of lines) {
    try {
      const entry = JSON.parse(line) as { level?: number; error?: unknown; msg?: unknown };
      if ((entry.level ?? 0) >= 50) return String(entry.error ?? entry.msg);
    } catch {
      // not a JSON line
    }
  }
  return undefined;
}

async function runUp(flags: UpFlags): Promise<number> {
  const dataDir = resolve(flags.dataDir);
  const highest = flags.basePort + PORT_OFFSETS[flags.nodes - 1]! + 1;
  if (highest > 65_535) {
    console.error(`keel up: with --base-port ${flags.basePort}, member ${flags.nodes} would need port ${highest}; use a base of at most ${65_534 - PORT_OFFSETS[flags.nodes - 1]!}`);
    return 1;
  }
  const faultfsRefusal = flags.faultfs ? upFaultfsRefusal() : undefined;
  if (faultfsRefusal !== undefined) {
    console.error(`keel up: ${faultfsRefusal}`);
    return 1;
  }
  const plans = planCluster(flags.nodes, flags.basePort, dataDir);
  // One keel up per data dir, held for its life: a second one must not rewrite cluster.json or start members on live data dirs.
  let lock;
  try {
    prepareDataDir(dataDir);
    lock = lockDataDir(dataDir, 'keel up');
  } catch (error) {
    console.error(`keel up: ${(error as Error).message}`);
    return 1;
  }
  try {
    // Requests left by a previous keel up (it died between a planned stop and the restart) mean nothing now.
    rmSync(join(dataDir, 'restart-requests'), { recursive: true, force: true });
    return await superviseCluster(flags, dataDir, plans);
  } finally {
    lock.release();
  }
}

function plannedPorts(flags: UpFlags, plans: readonly MemberPlan[]): PlannedPort[] {
  // Members in namespaces have ports of their own: only the gateway's are the host's.
  const ports: PlannedPort[] = (flags.netns ? [] : plans).flatMap((plan) => [
    { port: plan.clientPort, host: '127.0.0.1', purpose: `${plan.id} client` },
    { port: plan.peerPort, host: '127.0.0.1', purpose: `${plan.id} peer` },
  ]);
  if (flags.gateway) {
    ports.push({ port: flags.gatewayPort, host: '127.0.0.1', purpose: 'gateway' }, { port: flags.adminPort, host: '127.0.0.1', purpose: 'gateway admin' });
  }
  if (flags.observe) ports.push(...observePorts(flags));
  return ports;
}

async function superviseCluster(flags: UpFlags, dataDir: string, loopbackPlans: readonly MemberPlan[]): Promise<number> {
  let plans = loopbackPlans;
  if (flags.tls) {
    if (flags.observe) {
      console.error('keel up: --tls with --observe is not supported yet (Prometheus would need the client certificate to scrape the members)');
      return 1;
    }
    // The dashboard's polls speak cleartext to the members: not started until they speak TLS (docs/security.md).
    // The gateway speaks mutual TLS to them (its own client certificate, CN keel-gateway).
    if (flags.dashboard) console.error('keel up: --tls: the dashboard does not speak TLS to members yet; not starting it');
    flags = { ...flags, dashboard: false };
  }
  let observePlan: ObservePlan | undefined;
  const stray = observeOptionsWithoutObserve(flags);
  if (stray.length > 0) {
    console.error(`keel up: ${stray.join(', ')} ${stray.length > 1 ? 'need' : 'needs'} --observe`);
    return 1;
  }
  try {
    if (flags.observe) observePlan = planObserve(flags);
  } catch (error) {
    console.error(`keel up: --observe: ${(error as Error).message}`);
    return 1;
  }
  // The dashboard only watches: a taken port costs the dashboard, never the cluster (nor does its failing to start later).
  const [dashboardTaken] = flags.dashboard ? await busyPorts([{ port: flags.dashboardPort, host: '127.0.0.1', purpose: 'dashboard' }]) : [];
  if (dashboardTaken) {
    console.error(`keel up: port ${dashboardTaken.port} (dashboard) is in use${dashboardTaken.holder ? ` by ${dashboardTaken.holder}` : ''}; not serving the dashboard (choose another with --dashboard-port)`);
    flags = { ...flags, dashboard: false };
  }
  const busy = await busyPorts(plannedPorts(flags, plans));
  if (busy.length > 0) {
    for (const entry of busy) console.error(`keel up: port ${entry.port} (${entry.purpose}) is in use${entry.holder ? ` by ${entry.holder}` : ''}`);
    console.error(`keel up: nothing was started; stop what holds these ports, or choose others with --base-port, --gateway-port and --admin-port${flags.observe ? ' (and --prometheus-port, --alertmanager-port, --alert-receiver-port)' : ''}`);
    return 1;
  }
  const say = (line: string): void => {
    if (!flags.quiet) console.log(`keel up: ${line}`);
  };
  const clusterFile = join(dataDir, 'cluster.json');
  const clusterName = clusterNameFor(plans, clusterFile);
  const clusterId = clusterIdOf(clusterName, plans.map((plan) => plan.id));
  const network = flags.netns ? planNetns(clusterName, plans.map((plan) => plan.id)) : undefined;
  if (network) {
    try {
      createNetns(network);
    } catch (error) {
      console.error(`keel up: --netns: ${(error as Error).message}`);
      return 1;
    }
    plans = plans.map((plan, index) => ({ ...plan, host: network.members[index]!.address, netns: network.members[index]!.netns }));
    say(`members in namespaces ${network.members.map((member) => member.netns).join(', ')} on bridge ${network.bridge} (${network.bridgeAddress})`);
  }
  let disks: MemberDisks | undefined;
  try {
    if (flags.faultfs) {
      plans = plans.map((plan) => ({ ...plan, faultfs: faultfsMountPointOf(dataDir, plan.id) }));
      try {
        disks = await mountMemberDisks(plans);
      } catch (error) {
        console.error(`keel up: --faultfs: ${(error as Error).message}; nothing was started`);
        return 1;
      }
      say(`member data dirs on faultfs: ${plans.map((plan) => `${plan.id} ${plan.faultfs}`).join(', ')} (keel chaos disk <member> ...)`);
    }
    return await superviseMembers(flags, dataDir, plans, clusterName, clusterId, say, clusterFile, observePlan);
  } finally {
    for (const failure of (await disks?.unmountAll()) ?? []) console.error(`keel up: --faultfs: could not unmount ${failure}`);
    if (network) destroyNetns(network);
  }
}

async function superviseMembers(
  flags: UpFlags,
  dataDir: string,
  plans: readonly MemberPlan[],
  clusterName: string,
  clusterId: bigint,
  say: (line: string) => void,
  clusterFile: string,
  observePlan: ObservePlan | undefined,
): Promise<number> {
  const peers = plans.map((p) => `${p.id}=${hostOf(p)}:${p.peerPort}`).join(',');
  const scheme = flags.tls ? 'https' : 'http';
  const pki = flags.tls ? localPki(dataDir, plans) : undefined;
  const clientUrls = plans.map((p) => `${p.id}=${scheme}://${hostOf(p)}:${p.clientPort}`).join(',');
  const probe = pki ? tlsProbe(pki) : undefined;
  const memberArgs = (plan: MemberPlan): string[] => [
    'node',
    '--id', plan.id,
    '--data-dir', memberDataDirOf(plan),
    '--cluster-name', clusterName,
    '--listen-peer', `${hostOf(plan)}:${plan.peerPort}`,
    '--listen-client', `${hostOf(plan)}:${plan.clientPort}`,
    '--peers', peers,
    '--client-urls', clientUrls,
    '--zone', plan.zone,
    ...(flags.tickMs ? ['--tick-ms', flags.tickMs] : []),
    ...(pki ? memberTlsArgs(pki, plan.id) : []),
    ...(flags.gateway ? ['--shutdown-drain-ms', String(MEMBER_DRAIN_MS)] : []),
    '--log-format', flags.logFormat,
  ];
  const members: Supervised[] = plans.map((plan) => ({ plan, args: memberArgs(plan), logPath: join(plan.dataDir, 'keel.log'), restarts: 0, startedAt: 0 }));
  if (flags.gateway) {
    const gatewayDir = join(dataDir, 'gateway');
    mkdirSync(gatewayDir, { recursive: true });
    const configPath = join(gatewayDir, 'gw.yaml');
    // Its certificate's CN names no user: with auth on, calls through it need a token, as they would direct.
    const upstreamTls = pki ? { caFile: pki.caFile, ...ensureIssued(dirname(pki.caFile), 'gateway', 'keel-gateway', ['localhost', '127.0.0.1']) } : undefined;
    writeFileSync(configPath, gatewayConfig(plans, flags.gatewayPort, flags.adminPort, upstreamTls));
    members.push({
      plan: { id: 'gateway', zone: 'a', clientPort: flags.gatewayPort, peerPort: flags.adminPort, dataDir: gatewayDir },
      args: ['gateway', '--config', configPath, '--log-format', flags.logFormat],
      logPath: join(gatewayDir, 'keel.log'),
      restarts: 0,
      startedAt: 0,
    });
  }
  if (flags.dashboard) {
    const dashboardDir = join(dataDir, 'dashboard');
    members.push({
      plan: { id: 'dashboard', zone: 'a', clientPort: flags.dashboardPort, peerPort: flags.dashboardPort, dataDir: dashboardDir },
      args: dashboardChildArgs(dataDir, flags.dashboardPort),
      logPath: join(dashboardDir, 'keel.log'),
      restarts: 0,
      startedAt: 0,
    });
  }
  let stopping = false;
  let observeStack: ObserveStack | undefined;
  /** Until every member has been seen healthy once, a failure a restart cannot fix stops the whole cluster: never half-start it. */
  let started = false;
  let abortStart: ((reason: string) => void) | undefined;

  const writeClusterFile = (): void => {
    const gateway = members.find((m) => m.plan.id === 'gateway');
    const dashboard = members.find((m) => m.plan.id === 'dashboard');
    const body = {
      clusterName,
      clusterId: clusterId.toString(),
      supervisorPid: process.pid,
      members: members
        .filter((m) => m !== gateway && m !== dashboard)
        .map(({ plan, child, logPath, restarts, failed }) => ({
          id: plan.id,
          zone: plan.zone,
          clientUrl: `${scheme}://${hostOf(plan)}:${plan.clientPort}`,
          peerAddress: `${hostOf(plan)}:${plan.peerPort}`,
          ...(plan.netns ? { netns: plan.netns, address: hostOf(plan) } : {}),
          dataDir: memberDataDirOf(plan),
          ...(plan.faultfs ? { faultfs: plan.faultfs } : {}),
          logPath,
          pid: child?.pid ?? null,
          restarts,
          ...(failed ? { failed } : {}),
        })),
      ...(gateway
        ? {
          gateway: {
            url: `http://127.0.0.1:${gateway.plan.clientPort}`,
            adminUrl: `http://127.0.0.1:${gateway.plan.peerPort}`,
            logPath: gateway.logPath,
            pid: gateway.child?.pid ?? null,
            restarts: gateway.restarts,
            ...(gateway.failed ? { failed: gateway.failed } : {}),
          },
        }
        : {}),
      ...(observeStack ? { observe: observeStack.describe() } : {}),
      ...(dashboard ? { dashboard: { url: dashboardUrlOf(dashboard.plan.clientPort), logPath: dashboard.logPath, pid: dashboard.child?.pid ?? null, restarts: dashboard.restarts, ...(dashboard.failed ? { failed: dashboard.failed } : {}) } } : {}),
    };
    writeFileSync(`${clusterFile}.tmp`, `${JSON.stringify(body, null, 2)}\n`);
    renameSync(`${clusterFile}.tmp`, clusterFile);
  };

  const start = (member: Supervised): void => {
    const { plan } = member;
    mkdirSync(plan.dataDir, { recursive: true });
    const logFd = openSync(member.logPath, 'a');
    const args = [...memberNodeArgs(process.execArgv), process.argv[1]!, ...member.args];
    // In a namespace: `ip netns exec` execs node there, so the pid is the member's.
    const options = { stdio: ['ignore', logFd, logFd] as ['ignore', number, number], env: memberEnvironment(process.env) };
    const child = plan.netns ? spawn(inNetns(plan.netns)[0]!, [...inNetns(plan.netns).slice(1), process.execPath, ...args], options) : spawn(process.execPath, args, options);
    closeSync(logFd);
    member.child = child;
    member.startedAt = Date.now();
    writeClusterFile();
    child.on('exit', (code, signal) => {
      member.child = undefined;
      if (stopping) {
        writeClusterFile();
        return;
      }
      const restartRequest = restartRequestPath(dataDir, plan.id);
      if (code === 0 && existsSync(restartRequest)) {
        // A planned restart (keel chaos restart --graceful): the member drained and exited; start it again at once.
        rmSync(restartRequest, { force: true });
        start(member);
        say(`${plan.id} stopped for a planned restart; started again (pid ${(member.child as ChildProcess | undefined)?.pid})`);
        return;
      }
      if (code === 0) {
        writeClusterFile();
        // A clean exit is deliberate: a member removed from the cluster (MemberRemove) or one an operator stopped with SIGTERM. Restarting it would only fail (a removed member's data dir refuses to start) or undo the operator.
        say(`${plan.id} exited cleanly (removed from the cluster, or stopped on purpose); not restarting it`);
        return;
      }
      if (code === EXIT_PERMANENT) {
        member.failed = lastErrorOf(member.logPath) ?? 'a failure a restart cannot fix';
        writeClusterFile();
        console.error(`keel up: ${plan.id} cannot run: ${member.failed} (log: ${member.logPath}); not restarting it`);
        if (!started && plan.id !== 'dashboard') abortStart?.(`${plan.id} could not start`);
        return;
      }
      if (Date.now() - member.startedAt > STABLE_AFTER_MS) member.restarts = 0;
      const delayMs = Math.min(RESTART_DELAY_MS_MAX, RESTART_DELAY_MS_MIN * 2 ** member.restarts);
      member.restarts++;
      writeClusterFile();
      say(`${plan.id} exited (${signal ?? `code ${code}`}); restarting in ${(delayMs / 1000).toFixed(1)} s (restart ${member.restarts}; log: ${member.logPath})`);
      member.timer = setTimeout(() => {
        member.timer = undefined;
        if (!stopping) {
          start(member);
          say(`${plan.id} restarted (pid ${member.child?.pid})`);
        }
      }, delayMs);
    });
  };

  // The stack starts beside the members (Prometheus waits for nobody); if it cannot start, the cluster is stopped like one whose member cannot.
  const observeCancel = new AbortController();
  const observeStarting = observePlan
    ? startObserve({
      flags, plan: observePlan, dataDir, log: say, signal: observeCancel.signal, onChange: () => observeStack && writeClusterFile(),
      members: plans.map((plan) => ({ id: plan.id, zone: plan.zone, address: `${hostOf(plan)}:${plan.clientPort}` })),
      gatewayAdmin: flags.gateway ? `127.0.0.1:${flags.adminPort}` : undefined,
    })
    : undefined;
  for (const member of members) start(member);
  say(`${plans.length} members ${plans[0]?.netns ? 'in network namespaces' : 'on loopback'}, cluster ${clusterName} (id ${clusterId}), data in ${dataDir}`);
  for (const { plan, child, logPath } of members) {
    if (plan.id === 'dashboard') say(`  dashboard: ${dashboardUrlOf(plan.clientPort)}, pid ${child?.pid}, log ${logPath}`);
    else if (plan.id === 'gateway') say(`  gateway: http://127.0.0.1:${plan.clientPort} (admin http://127.0.0.1:${plan.peerPort}), pid ${child?.pid}, log ${logPath}`);
    else say(`  ${plan.id} zone ${plan.zone}: client ${scheme}://${hostOf(plan)}:${plan.clientPort}, peer ${hostOf(plan)}:${plan.peerPort}, pid ${child?.pid}, log ${logPath}`);
  }
  if (pki) say(`TLS: etcdctl --endpoints=${plans.map((p) => `https://${hostOf(p)}:${p.clientPort}`).join(',')} --cacert ${pki.caFile} --cert ${pki.client.certFile} --key ${pki.client.keyFile} endpoint status`);
  say(`cluster file ${clusterFile}; \`keel status --data-dir ${flags.dataDir}\` shows the cluster; Ctrl-C stops everything`);

  let lastLeader = '';
  const poll = setInterval(() => {
    void leaderOf(plans, clusterName, probe).then((leader) => {
      if (leader && leader !== lastLeader) say(`leader is ${leader}`);
      if (leader) {
        lastLeader = leader;
        started = true;
      }
    });
  }, STATUS_POLL_MS);

  let exitCode = 0;
  await new Promise<void>((resolveStop) => {
    const stop = (reason: string): void => {
      if (stopping) return;
      stopping = true;
      clearInterval(poll);
      say(`${reason}: stopping every member`);
      for (const member of members) {
        if (member.timer) clearTimeout(member.timer);
        // Store members get SIGINT: the whole cluster stops, so there is nobody to drain towards (SIGTERM would drain).
        member.child?.kill(plans.includes(member.plan) ? 'SIGINT' : 'SIGTERM');
      }
      const deadline = setTimeout(() => {
        for (const member of members) {
          if (member.child) {
            say(`${member.plan.id} did not stop within ${STOP_GRACE_MS / 1000} s; killing it`);
            member.child.kill('SIGKILL');
          }
        }
      }, STOP_GRACE_MS);
      observeCancel.abort();
      // A stack still starting stops its own processes when cancelled; a started one is stopped here.
      const observeStopped = observeStarting?.then((stack) => stack.stop(), () => undefined);
      const check = setInterval(() => {
        if (members.every((member) => !member.child)) {
          clearInterval(check);
          clearTimeout(deadline);
          void Promise.resolve(observeStopped).then(() => resolveStop());
        }
      }, 50);
    };
    abortStart = (reason) => {
      exitCode = 1;
      console.error(`keel up: ${reason}; stopping the rest rather than run a partial cluster`);
      stop('start failed');
    };
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGTERM', () => stop('SIGTERM'));
    observeStarting?.then((stack) => {
      if (stopping) return;
      observeStack = stack;
      writeClusterFile();
      const observed = stack.describe();
      say(`prometheus ${observed.prometheusUrl} (pid ${observed.prometheus.pid}), alertmanager ${observed.alertmanagerUrl} (pid ${observed.alertmanager.pid}), alerts to ${observed.webhookUrl}${observed.alertsFile ? ` (recorded in ${observed.alertsFile})` : ''}`);
    }, (error: unknown) => {
      if (!stopping) abortStart?.(`--observe: ${(error as Error).message}`);
    });
  });
  say('stopped');
  return exitCode;
}

/** The leader's id as one member of this cluster reports it, or '' when none answers. Answers from another cluster (another id) are ignored. */
async function leaderOf(plans: readonly MemberPlan[], clusterName: string, tls?: TlsProbe): Promise<string> {
  const clusterId = clusterIdOf(clusterName, plans.map((plan) => plan.id)).toString();
  for (const plan of plans) {
    try {
      const url = `${tls ? 'https' : 'http'}://${hostOf(plan)}:${plan.clientPort}/v3/maintenance/status`;
      const response = await fetch(url, { method: 'POST', body: '{}', signal: AbortSignal.timeout(500), ...(tls ? { dispatcher: tls.agent } : {}) } as RequestInit);
      if (!response.ok) continue;
      const status = (await response.json()) as { leader?: string; header?: { cluster_id?: string } };
      if (status.header?.cluster_id !== clusterId) continue;
      const leader = plans.find((candidate) => memberIdOf(clusterName, candidate.id).toString() === status.leader);
      if (leader) return leader.id;
    } catch {
      // that member is down or busy; ask the next
    }
  }
  return '';
}

/** What keel up's own probes of TLS members present: the local CA and the client certificate. */
interface TlsProbe {
  readonly agent: Agent;
}

/** The throwaway PKI under <data-dir>/tls: made on the first --tls start, reused after (members keep trusting the same CA). */
function localPki(dataDir: string, plans: readonly MemberPlan[]): LocalPki {
  const dir = join(dataDir, 'tls');
  const ids = plans.map((plan) => plan.id);
  const existing = localPkiFiles(dir, ids);
  const complete = [existing.caFile, existing.client.certFile, ...Object.values(existing.members).map((files) => files.certFile)].every((file) => existsSync(file));
  return complete ? existing : writeLocalPki(dir, ids, 'root', plans.map(hostOf));
}

function memberTlsArgs(pki: LocalPki, id: string): string[] {
  const files = pki.members[id]!;
  return [
    '--cert-file', files.certFile, '--key-file', files.keyFile, '--trusted-ca-file', pki.caFile, '--client-cert-auth',
    '--peer-cert-file', files.certFile, '--peer-key-file', files.keyFile, '--peer-trusted-ca-file', pki.caFile, '--peer-client-cert-auth',
  ];
}

function tlsProbe(pki: LocalPki): TlsProbe {
  return { agent: new Agent({ connect: { ca: readFileSync(pki.caFile), cert: readFileSync(pki.client.certFile), key: readFileSync(pki.client.keyFile) } }) };
}

/** keel up's own Node flags, after each of MEMBER_NODE_FLAGS it does not set itself (`--name=value`, `--name value`, `_` for `-` alike). */
export function memberNodeArgs(execArgv: readonly string[]): string[] {
  const nameOf = (arg: string): string => arg.split('=')[0]!.replaceAll('_', '-');
  const own = new Set(execArgv.filter((arg) => arg.startsWith('--')).map(nameOf));
  return [...MEMBER_NODE_FLAGS.filter((flag) => !own.has(nameOf(flag))), ...execArgv];
}
