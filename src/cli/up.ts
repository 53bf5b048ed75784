import { Command, InvalidArgumentError } from 'commander';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, openSync, renameSync, writeFileSync, closeSync } from 'node:fs';
import { resolve, join } from 'node:path';
import { memberIdOf } from '../node/identity.js';
import { parseLogFormat } from '../node/logger.js';
import type { LogFormat } from '../node/logger.js';

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
/** A member up this long is considered healthy again: its restart backoff resets. */
const STABLE_AFTER_MS = 30_000;
const STOP_GRACE_MS = 10_000;
const STATUS_POLL_MS = 1_000;

export interface MemberPlan {
  readonly id: string;
  readonly zone: string;
  readonly clientPort: number;
  readonly peerPort: number;
  readonly dataDir: string;
}

export function planCluster(nodes: number, basePort: number, dataDir: string): MemberPlan[] {
  return Array.from({ length: nodes }, (_, i) => {
    const clientPort = basePort + PORT_OFFSETS[i]!;
    return { id: `n${i + 1}`, zone: ZONES[i]!, clientPort, peerPort: clientPort + 1, dataDir: join(dataDir, `n${i + 1}`) };
  });
}

interface UpFlags {
  nodes: number;
  basePort: number;
  dataDir: string;
  tickMs?: string;
  quiet?: boolean;
  gateway: boolean;
  gatewayPort: number;
  adminPort: number;
  logFormat: LogFormat;
}

/** A day: gRPC calls through keel up's gateway (watches, lease keep-alives) may stream this long. */
const GRPC_STREAM_MAX_MS = 86_400_000;

/**
 * The gateway keel up puts in front of the members, on one port for both
 * kinds of client: the JSON gateway over HTTP/1.1 and etcd's gRPC services
 * (etcdctl, etcd client libraries) over h2c, each a least-request cluster
 * of the members health-checked on /readyz (a member's client port serves
 * both). gRPC routes may stream for a day (watches, keep-alives).
 */
export function gatewayConfig(plans: readonly MemberPlan[], port: number, adminPort: number): string {
  const endpoints = plans.map((p) => `      - { address: "127.0.0.1:${p.clientPort}", zone: ${p.zone} }`).join('\n');
  const cluster = (name: string, protocol: string) => [
    `  ${name}:`,
    `    protocol: ${protocol}`,
    '    balancer: least-request',
    '    endpoints:',
    endpoints,
    '    healthCheck: { path: /readyz, intervalMs: 1000, timeoutMs: 500, healthyThreshold: 1, unhealthyThreshold: 2 }',
  ];
  return [
    '# Written by keel up: the gateway in front of the local cluster.',
    'zone: a',
    `listeners: [{ port: ${port}, protocol: auto }]`,
    `admin: { port: ${adminPort} }`,
    'routes:',
    `  - { name: store-grpc, match: { headers: [{ name: content-type, regex: "^application/grpc" }] }, cluster: keel-grpc, timeoutMs: ${GRPC_STREAM_MAX_MS}, perTryTimeoutMs: ${GRPC_STREAM_MAX_MS} }`,
    '  - { name: store, match: { prefix: / }, cluster: keel }',
    'clusters:',
    ...cluster('keel', 'http1'),
    ...cluster('keel-grpc', 'h2c'),
    '',
  ].join('\n');
}

export function upCommand(): Command {
  return new Command('up')
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
    .action(async (flags: UpFlags) => {
      process.exitCode = await runUp(flags);
    });
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
  child?: ChildProcess;
  restarts: number;
  startedAt: number;
  timer?: NodeJS.Timeout;
}

async function runUp(flags: UpFlags): Promise<number> {
  const dataDir = resolve(flags.dataDir);
  const highest = flags.basePort + PORT_OFFSETS[flags.nodes - 1]! + 1;
  if (highest > 65_535) {
    console.error(`keel up: with --base-port ${flags.basePort}, member ${flags.nodes} would need port ${highest}; use a base of at most ${65_534 - PORT_OFFSETS[flags.nodes - 1]!}`);
    return 1;
  }
  const plans = planCluster(flags.nodes, flags.basePort, dataDir);
  mkdirSync(dataDir, { recursive: true });
  const say = (line: string): void => {
    if (!flags.quiet) console.log(`keel up: ${line}`);
  };
  const peers = plans.map((p) => `${p.id}=127.0.0.1:${p.peerPort}`).join(',');
  const clientUrls = plans.map((p) => `${p.id}=http://127.0.0.1:${p.clientPort}`).join(',');
  const memberArgs = (plan: MemberPlan): string[] => [
    'node',
    '--id', plan.id,
    '--data-dir', plan.dataDir,
    '--listen-peer', `127.0.0.1:${plan.peerPort}`,
    '--listen-client', `127.0.0.1:${plan.clientPort}`,
    '--peers', peers,
    '--client-urls', clientUrls,
    '--zone', plan.zone,
    ...(flags.tickMs ? ['--tick-ms', flags.tickMs] : []),
    '--log-format', flags.logFormat,
  ];
  const members: Supervised[] = plans.map((plan) => ({ plan, args: memberArgs(plan), restarts: 0, startedAt: 0 }));
  if (flags.gateway) {
    const gatewayDir = join(dataDir, 'gateway');
    mkdirSync(gatewayDir, { recursive: true });
    const configPath = join(gatewayDir, 'gw.yaml');
    writeFileSync(configPath, gatewayConfig(plans, flags.gatewayPort, flags.adminPort));
    members.push({
      plan: { id: 'gateway', zone: 'a', clientPort: flags.gatewayPort, peerPort: flags.adminPort, dataDir: gatewayDir },
      args: ['gateway', '--config', configPath, '--log-format', flags.logFormat],
      restarts: 0,
      startedAt: 0,
    });
  }
  let stopping = false;

  const writeClusterFile = (): void => {
    const gateway = members.find((m) => m.plan.id === 'gateway');
    const body = {
      members: members
        .filter((m) => m !== gateway)
        .map(({ plan, child }) => ({
          id: plan.id,
          zone: plan.zone,
          clientUrl: `http://127.0.0.1:${plan.clientPort}`,
          peerAddress: `127.0.0.1:${plan.peerPort}`,
          dataDir: plan.dataDir,
          pid: child?.pid ?? null,
        })),
      ...(gateway
        ? { gateway: { url: `http://127.0.0.1:${gateway.plan.clientPort}`, adminUrl: `http://127.0.0.1:${gateway.plan.peerPort}`, pid: gateway.child?.pid ?? null } }
        : {}),
    };
    const path = join(dataDir, 'cluster.json');
    writeFileSync(`${path}.tmp`, `${JSON.stringify(body, null, 2)}\n`);
    renameSync(`${path}.tmp`, path);
  };

  const start = (member: Supervised): void => {
    const { plan } = member;
    mkdirSync(plan.dataDir, { recursive: true });
    const logFd = openSync(join(plan.dataDir, 'keel.log'), 'a');
    const args = [...process.execArgv, process.argv[1]!, ...member.args];
    const child = spawn(process.execPath, args, { stdio: ['ignore', logFd, logFd] });
    closeSync(logFd);
    member.child = child;
    member.startedAt = Date.now();
    writeClusterFile();
    child.on('exit', (code, signal) => {
      member.child = undefined;
      writeClusterFile();
      if (stopping) return;
      if (code === 0) {
        // A clean exit is deliberate: a member removed from the cluster (MemberRemove) or one an operator stopped with SIGTERM. Restarting it would only fail (a removed member's data dir refuses to start) or undo the operator.
        say(`${plan.id} exited cleanly (removed from the cluster, or stopped on purpose); not restarting it`);
        return;
      }
      if (Date.now() - member.startedAt > STABLE_AFTER_MS) member.restarts = 0;
      const delayMs = Math.min(RESTART_DELAY_MS_MAX, RESTART_DELAY_MS_MIN * 2 ** member.restarts);
      member.restarts++;
      say(`${plan.id} exited (${signal ?? `code ${code}`}); restarting in ${(delayMs / 1000).toFixed(1)} s (restart ${member.restarts}; log: ${join(plan.dataDir, 'keel.log')})`);
      member.timer = setTimeout(() => {
        member.timer = undefined;
        if (!stopping) {
          start(member);
          say(`${plan.id} restarted (pid ${member.child?.pid})`);
        }
      }, delayMs);
    });
  };

  for (const member of members) start(member);
  say(`${plans.length} members on loopback, data in ${dataDir}`);
  for (const { plan, child } of members) {
    if (plan.id === 'gateway') say(`  gateway: http://127.0.0.1:${plan.clientPort} (admin http://127.0.0.1:${plan.peerPort}), pid ${child?.pid}`);
    else say(`  ${plan.id} zone ${plan.zone}: client http://127.0.0.1:${plan.clientPort}, peer 127.0.0.1:${plan.peerPort}, pid ${child?.pid}`);
  }
  say(`cluster file ${join(dataDir, 'cluster.json')}; Ctrl-C stops everything`);

  let lastLeader = '';
  const poll = setInterval(() => {
    void leaderOf(plans).then((leader) => {
      if (leader && leader !== lastLeader) say(`leader is ${leader}`);
      if (leader) lastLeader = leader;
    });
  }, STATUS_POLL_MS);

  await new Promise<void>((resolveStop) => {
    const stop = (signal: string): void => {
      if (stopping) return;
      stopping = true;
      clearInterval(poll);
      say(`${signal}: stopping every member`);
      for (const member of members) {
        if (member.timer) clearTimeout(member.timer);
        member.child?.kill('SIGTERM');
      }
      const deadline = setTimeout(() => {
        for (const member of members) {
          if (member.child) {
            say(`${member.plan.id} did not stop within ${STOP_GRACE_MS / 1000} s; killing it`);
            member.child.kill('SIGKILL');
          }
        }
      }, STOP_GRACE_MS);
      const check = setInterval(() => {
        if (members.every((member) => !member.child)) {
          clearInterval(check);
          clearTimeout(deadline);
          resolveStop();
        }
      }, 50);
    };
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGTERM', () => stop('SIGTERM'));
  });
  say('stopped');
  return 0;
}

/** The leader's id as one member reports it, or '' when none answers. */
async function leaderOf(plans: readonly MemberPlan[]): Promise<string> {
  for (const plan of plans) {
    try {
      const response = await fetch(`http://127.0.0.1:${plan.clientPort}/v3/maintenance/status`, { method: 'POST', body: '{}', signal: AbortSignal.timeout(500) });
      if (!response.ok) continue;
      const status = (await response.json()) as { leader?: string };
      const leader = plans.find((candidate) => memberIdOf('keel', candidate.id).toString() === status.leader);
      if (leader) return leader.id;
    } catch {
      // that member is down or busy; ask the next
    }
  }
  return '';
}
