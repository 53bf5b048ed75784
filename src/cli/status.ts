import { Command, InvalidArgumentError } from 'commander';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Agent, fetch as undiciFetch } from 'undici';
import type { Dispatcher } from 'undici';

/**
 * `keel status`: etcdctl's `endpoint status -w table` for a whole cluster,
 * plus what keel up knows (zones, pids, restarts, log paths). Reads the
 * members from a keel up data dir's cluster.json, or from --endpoints.
 * Exit code 0 when every member answered and they agree on a leader, 1
 * otherwise (the table is printed either way).
 */

/** What one member row says; fields a source cannot tell are undefined. */
export interface MemberStatus {
  readonly name: string;
  readonly endpoint: string;
  readonly zone: string | undefined;
  readonly pid: number | undefined;
  readonly restarts: number | undefined;
  readonly logPath: string | undefined;
  /** Why the supervisor gave up on it, if it did. */
  readonly failed: string | undefined;
  /** undefined when the member did not answer. */
  readonly reply: StatusReply | undefined;
  readonly error: string | undefined;
}

export interface StatusReply {
  readonly memberId: string;
  readonly clusterId: string;
  readonly leaderId: string;
  readonly isLeader: boolean;
  readonly isLearner: boolean;
  readonly term: number;
  readonly raftIndex: number;
  readonly appliedIndex: number;
  /** Bytes the key-value state takes (the store's size, what the quota counts). */
  readonly dbSizeInUseBytes: number;
  /** Bytes the member's raft files take on disk (WAL segments, preallocated, and snapshots). */
  readonly diskBytes: number;
  readonly alarms: readonly string[];
  readonly version: string;
}

export interface ClusterStatus {
  readonly members: readonly MemberStatus[];
  readonly leader: string | undefined;
  /** Members that answered, of all listed. */
  readonly answered: number;
  readonly healthy: boolean;
}

interface Target {
  readonly name: string;
  readonly endpoint: string;
  readonly zone?: string;
  readonly pid?: number | null;
  readonly restarts?: number;
  readonly logPath?: string;
  readonly failed?: string;
}

const CALL_TIMEOUT_MS = 2_000;
const WATCH_INTERVAL_MS_MIN = 200;

interface StatusFlags {
  dataDir: string;
  endpoints?: string[];
  writeOut: 'table' | 'json';
  watch?: boolean;
  intervalMs: number;
  cacert?: string;
  cert?: string;
  key?: string;
}

export function statusCommand(): Command {
  return new Command('status')
    .description('show every member: leader, term, raft and applied index, lag, DB size, alarms, restarts and log paths')
    .option('--data-dir <dir>', 'a keel up data dir (reads its cluster.json)', './.keel')
    .option('--endpoints <list>', 'members\' client addresses instead, host:port or http://host:port, comma-separated', parseEndpoints)
    .option('-w, --write-out <format>', 'table or json', parseFormat, 'table')
    .option('--watch', 'refresh until Ctrl-C')
    .option('--interval-ms <n>', 'refresh interval for --watch', parseInterval, 2_000)
    .option('--cacert <file>', 'CA bundle for https members (default: <data-dir>/tls/ca.crt when keel up --tls made it)')
    .option('--cert <file>', 'client certificate for members that require one (default: <data-dir>/tls/client.crt)')
    .option('--key <file>', 'the client certificate\'s key (default: <data-dir>/tls/client.key)')
    .action(async (flags: StatusFlags) => {
      process.exitCode = await runStatus(flags);
    });
}

function parseEndpoints(value: string): string[] {
  const endpoints = value.split(',').map((entry) => entry.trim()).filter(Boolean).map(normalizeEndpoint);
  if (endpoints.length === 0) throw new InvalidArgumentError('give at least one host:port');
  return endpoints;
}

/** host:port or http(s)://host:port, as etcdctl accepts them; returns a URL without a trailing slash. */
export function normalizeEndpoint(value: string): string {
  const url = /^[a-z]+:\/\//i.test(value) ? value : `http://${value}`;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new InvalidArgumentError(`${value} is not host:port or a URL`);
  }
  if (!parsed.port && !/^[a-z]+:\/\/[^/]+:\d+/i.test(url)) throw new InvalidArgumentError(`${value} has no port`);
  return `${parsed.protocol}//${parsed.host}`;
}

function parseFormat(value: string): 'table' | 'json' {
  if (value !== 'table' && value !== 'json') throw new InvalidArgumentError('must be table or json');
  return value;
}

function parseInterval(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < WATCH_INTERVAL_MS_MIN) throw new InvalidArgumentError(`must be an integer of at least ${WATCH_INTERVAL_MS_MIN}`);
  return n;
}

async function runStatus(flags: StatusFlags): Promise<number> {
  let targets: Target[];
  try {
    targets = flags.endpoints ? flags.endpoints.map((endpoint) => ({ name: endpoint, endpoint })) : readClusterFile(flags.dataDir);
  } catch (error) {
    console.error(`keel status: ${(error as Error).message}`);
    return 1;
  }
  let dispatcher: Dispatcher | undefined;
  try {
    dispatcher = tlsDispatcher(flags);
  } catch (error) {
    console.error(`keel status: ${(error as Error).message}`);
    return 1;
  }
  if (!flags.watch) {
    const status = await clusterStatus(targets, dispatcher);
    console.log(flags.writeOut === 'json' ? JSON.stringify(status, null, 2) : renderTable(status));
    return status.healthy ? 0 : 1;
  }
  let stop = false;
  process.once('SIGINT', () => {
    stop = true;
  });
  let healthy = false;
  while (!stop) {
    const status = await clusterStatus(targets, dispatcher);
    healthy = status.healthy;
    const text = flags.writeOut === 'json' ? JSON.stringify(status) : renderTable(status);
    // On a terminal the table is redrawn in place; piped, each refresh follows the last.
    if (process.stdout.isTTY) process.stdout.write(`\x1b[H\x1b[2J${new Date().toISOString()}  (Ctrl-C to stop)\n${text}\n`);
    else console.log(text);
    await new Promise((resolveWait) => setTimeout(resolveWait, flags.intervalMs));
  }
  return healthy ? 0 : 1;
}

/**
 * The client side of TLS, etcdctl's way: --cacert, --cert, --key; without them, the
 * throwaway PKI `keel up --tls` made under <data-dir>/tls, if there is one.
 */
function tlsDispatcher(flags: StatusFlags): Dispatcher | undefined {
  const local = join(resolve(flags.dataDir), 'tls');
  const pick = (given: string | undefined, name: string): string | undefined => given ?? (flags.endpoints === undefined && existsSync(join(local, name)) ? join(local, name) : undefined);
  const ca = pick(flags.cacert, 'ca.crt');
  const cert = pick(flags.cert, 'client.crt');
  const key = pick(flags.key, 'client.key');
  if (ca === undefined && cert === undefined) return undefined;
  if ((cert === undefined) !== (key === undefined)) throw new Error('give --cert and --key together');
  const read = (file: string): Buffer => {
    try {
      return readFileSync(file);
    } catch (error) {
      throw new Error(`cannot read ${file}: ${(error as Error).message}`);
    }
  };
  return new Agent({ connect: { ...(ca ? { ca: read(ca) } : {}), ...(cert && key ? { cert: read(cert), key: read(key) } : {}) } });
}

/** The members listed in a keel up data dir's cluster.json. */
export function readClusterFile(dataDir: string): Target[] {
  const path = join(resolve(dataDir), 'cluster.json');
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new Error(`${path} not found: is keel up running with --data-dir ${dataDir}? Or give --endpoints host:port,...`);
  }
  const file = JSON.parse(text) as { members?: Array<{ id: string; zone?: string; clientUrl: string; pid?: number | null; restarts?: number; logPath?: string; failed?: string }> };
  if (!Array.isArray(file.members)) throw new Error(`${path} lists no members`);
  return file.members.map((member) => ({
    name: member.id,
    endpoint: member.clientUrl,
    ...(member.zone === undefined ? {} : { zone: member.zone }),
    ...(member.pid === undefined ? {} : { pid: member.pid }),
    ...(member.restarts === undefined ? {} : { restarts: member.restarts }),
    ...(member.logPath === undefined ? {} : { logPath: member.logPath }),
    ...(member.failed === undefined ? {} : { failed: member.failed }),
  }));
}

/** Asks every target for its status at once. */
export async function clusterStatus(targets: readonly Target[], dispatcher?: Dispatcher): Promise<ClusterStatus> {
  const members = await Promise.all(targets.map((target) => memberStatus(target, dispatcher)));
  const names = await memberNames(targets, dispatcher);
  const named = members.map((member) => (member.reply && names.get(member.reply.memberId) && member.name.includes('://') ? { ...member, name: names.get(member.reply.memberId)! } : member));
  const leaders = new Set(named.flatMap((member) => (member.reply && member.reply.leaderId !== '0' ? [member.reply.leaderId] : [])));
  const leaderId = leaders.size === 1 ? [...leaders][0]! : undefined;
  const leader = leaderId === undefined ? undefined : (names.get(leaderId) ?? named.find((member) => member.reply?.memberId === leaderId)?.name ?? leaderId);
  const answered = named.filter((member) => member.reply).length;
  return { members: named, leader, answered, healthy: answered === named.length && leaderId !== undefined };
}

async function memberStatus(target: Target, dispatcher: Dispatcher | undefined): Promise<MemberStatus> {
  const base = {
    name: target.name,
    endpoint: target.endpoint,
    zone: target.zone,
    pid: target.pid ?? undefined,
    restarts: target.restarts,
    logPath: target.logPath,
    failed: target.failed,
  };
  try {
    const body = (await post(target.endpoint, '/v3/maintenance/status', dispatcher)) as {
      header?: { member_id?: string; cluster_id?: string };
      leader?: string; raftTerm?: string; raftIndex?: string; raftAppliedIndex?: string; dbSize?: string; dbSizeInUse?: string; errors?: string[]; isLearner?: boolean; version?: string;
    };
    const memberId = body.header?.member_id ?? '0';
    const leaderId = body.leader ?? '0';
    const reply: StatusReply = {
      memberId,
      clusterId: body.header?.cluster_id ?? '0',
      leaderId,
      isLeader: leaderId !== '0' && leaderId === memberId,
      isLearner: body.isLearner === true,
      term: Number(body.raftTerm ?? 0),
      raftIndex: Number(body.raftIndex ?? 0),
      appliedIndex: Number(body.raftAppliedIndex ?? 0),
      dbSizeInUseBytes: Number(body.dbSizeInUse ?? 0),
      diskBytes: Number(body.dbSize ?? 0),
      alarms: (body.errors ?? []).filter((error) => error !== 'etcdserver: no leader'),
      version: body.version ?? '',
    };
    return { ...base, reply, error: undefined };
  } catch (error) {
    return { ...base, reply: undefined, error: describeFailure(error) };
  }
}

/** A failed status call in words: fetch's own message ("fetch failed") hides the cause. */
function describeFailure(error: unknown): string {
  const cause = (error as { cause?: { code?: unknown } }).cause;
  const code = typeof cause?.code === 'string' ? cause.code : (error as { name?: string }).name;
  if (code === 'ECONNREFUSED') return 'not answering: connection refused (the member is down or not listening yet)';
  if (code === 'TimeoutError' || code === 'UND_ERR_CONNECT_TIMEOUT') return `not answering within ${CALL_TIMEOUT_MS} ms (paused, overloaded or cut off)`;
  if (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET') return 'connection reset';
  // TLS failures (unknown CA, missing client certificate) are only named in the cause.
  const causeMessage = (cause as { message?: unknown } | undefined)?.message;
  if (typeof causeMessage === 'string' && causeMessage !== '') return `${(error as Error).message}: ${causeMessage}${typeof cause?.code === 'string' && /CERT|SSL|TLS|SIGNATURE/.test(cause.code) ? ' (give --cacert, --cert and --key)' : ''}`;
  return (error as Error).message;
}

/** Member id -> name, from the first member that lists them. */
async function memberNames(targets: readonly Target[], dispatcher: Dispatcher | undefined): Promise<Map<string, string>> {
  for (const target of targets) {
    try {
      const body = (await post(target.endpoint, '/v3/cluster/member/list', dispatcher)) as { members?: Array<{ ID?: string; name?: string }> };
      return new Map((body.members ?? []).filter((member) => member.ID && member.name).map((member) => [member.ID!, member.name!]));
    } catch {
      // ask the next
    }
  }
  return new Map();
}

async function post(endpoint: string, path: string, dispatcher: Dispatcher | undefined): Promise<unknown> {
  // undici's own fetch: the global one may come from another undici copy that does not accept this Agent.
  const response = await undiciFetch(`${endpoint}${path}`, { method: 'POST', body: '{}', signal: AbortSignal.timeout(CALL_TIMEOUT_MS), ...(dispatcher ? { dispatcher } : {}) });
  if (!response.ok) throw new Error(`${path} answered ${response.status}`);
  return response.json();
}

/** The status as a table, etcdctl's -w table style. */
export function renderTable(status: ClusterStatus): string {
  const leaderIndex = Math.max(0, ...status.members.map((member) => (member.reply?.isLeader ? member.reply.raftIndex : 0)));
  const header = ['MEMBER', 'ENDPOINT', 'ZONE', 'PID', 'LEADER', 'TERM', 'RAFT INDEX', 'APPLIED', 'LAG', 'DB SIZE', 'DISK', 'ALARMS', 'RESTARTS', 'LOG'];
  const rows = status.members.map((member) => {
    const reply = member.reply;
    const lag = reply && leaderIndex > 0 ? String(Math.max(0, leaderIndex - reply.appliedIndex)) : '-';
    return [
      member.name,
      member.endpoint,
      member.zone ?? '-',
      member.pid === undefined ? '-' : String(member.pid),
      reply ? (reply.isLeader ? 'true' : reply.isLearner ? 'learner' : 'false') : 'DOWN',
      reply ? String(reply.term) : '-',
      reply ? String(reply.raftIndex) : '-',
      reply ? String(reply.appliedIndex) : '-',
      lag,
      reply ? formatBytes(reply.dbSizeInUseBytes) : '-',
      reply ? formatBytes(reply.diskBytes) : '-',
      reply ? (reply.alarms.length === 0 ? '-' : reply.alarms.join('; ')) : '-',
      member.restarts === undefined ? '-' : String(member.restarts),
      member.logPath ?? '-',
    ];
  });
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)));
  const line = `+${widths.map((width) => '-'.repeat(width + 2)).join('+')}+`;
  const format = (cells: readonly string[]): string => `| ${cells.map((cell, column) => cell.padEnd(widths[column]!)).join(' | ')} |`;
  const problems = status.members.filter((member) => !member.reply || member.failed).map((member) => `  ${member.name}: ${member.failed ?? member.error}`);
  return [
    line, format(header), line, ...rows.map(format), line,
    `leader: ${status.leader ?? 'none'}; ${status.answered}/${status.members.length} members answered`,
    ...problems,
  ].join('\n');
}

function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}
