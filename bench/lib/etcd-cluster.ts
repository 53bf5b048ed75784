/**
 * Starts and stops a real etcd cluster on loopback, for the client tests
 * and bench/kv.ts. Every member is a child process of this one, known by
 * its pid; `stop()` and `kill()` signal those pids and nothing else. Data
 * lives under one temporary directory, removed by `stop()`. fsync stays on
 * (etcd's default; we never pass --unsafe-no-fsync).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, openSync, closeSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureDebianBinary, isExecutable } from './debian.js';
import { freeLoopbackPorts, postJson, sleepMs } from './net.js';

/** Where Debian's etcd-server package puts the binary. */
export const DEBIAN_ETCD_PATH = '/usr/bin/etcd';
/** How long a new cluster may take to elect a leader everyone agrees on. */
export const CLUSTER_READY_TIMEOUT_MS = 30_000;
/** How long a member may take to exit on SIGTERM before it gets SIGKILL. */
export const MEMBER_STOP_TIMEOUT_MS = 5_000;

/** Clusters whose member could not bind its port start again on fresh ports, at most this many times. */
const START_ATTEMPTS = 3;

class PortTakenError extends Error {
  constructor(cause: unknown) {
    super(`an etcd member's port was taken before it could bind it: ${(cause as Error).message}`, { cause });
    this.name = 'PortTakenError';
  }
}

export interface EtcdMember {
  readonly name: string;
  readonly clientUrl: string;
  readonly peerUrl: string;
  readonly dataDir: string;
  /** The running process's pid, or undefined while the member is down. */
  readonly pid: number | undefined;
}

export interface EtcdClusterOptions {
  /** Members (default 3). */
  readonly size?: number;
  /** The etcd binary (default: $ETCD_BIN, /usr/bin/etcd, then `etcd` on PATH). */
  readonly binary?: string;
  /** Parent of the data directory (default os.tmpdir()). */
  readonly tmpRoot?: string;
  /** Extra flags for every member. */
  readonly extraArgs?: readonly string[];
  /**
   * Client and peer mutual TLS with etcd's flags (--cert-file, --key-file,
   * --trusted-ca-file, --client-cert-auth and their --peer-* twins): member
   * i serves `memberFiles(i)` and trusts `caFile`; the URLs become https.
   * The probes here go through undici's global dispatcher, which must then
   * trust the CA and present a client certificate (bench/lib/tls.ts).
   */
  readonly tls?: EtcdTlsFiles;
}

export interface EtcdTlsFiles {
  readonly caFile: string;
  memberFiles(index: number): { readonly certFile: string; readonly keyFile: string };
}

function tlsArgs(tls: EtcdTlsFiles | undefined, index: number): string[] {
  if (tls === undefined) return [];
  const { certFile, keyFile } = tls.memberFiles(index);
  return [
    '--cert-file', certFile, '--key-file', keyFile, '--trusted-ca-file', tls.caFile, '--client-cert-auth',
    '--peer-cert-file', certFile, '--peer-key-file', keyFile, '--peer-trusted-ca-file', tls.caFile, '--peer-client-cert-auth',
  ];
}

/** The path of an etcd binary, or undefined when none is installed. */
export function findEtcdBinary(): string | undefined {
  const candidates = [process.env.ETCD_BIN, DEBIAN_ETCD_PATH];
  for (const candidate of candidates) {
    if (candidate !== undefined && candidate !== '' && isExecutable(candidate)) return candidate;
  }
  return onPath('etcd');
}

/** The path of etcdctl (Debian's etcd-client), or undefined when it is not installed. */
export function findEtcdctlBinary(): string | undefined {
  return onPath('etcdctl');
}

function onPath(name: string): string | undefined {
  try {
    const found = execFileSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).trim();
    return found !== '' && isExecutable(found) ? found : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Finds etcd, installing Debian's etcd-server with apt-get when it is
 * missing and we are root. Returns undefined when neither works.
 */
export function ensureEtcdBinary(log: (line: string) => void = () => {}): string | undefined {
  const found = findEtcdBinary();
  if (found !== undefined) return found;
  return ensureDebianBinary(DEBIAN_ETCD_PATH, 'etcd-server', log) ? DEBIAN_ETCD_PATH : undefined;
}

/** `etcd --version`'s first line, e.g. "etcd Version: 3.4.23". */
export function etcdVersion(binary: string): string {
  return execFileSync(binary, ['--version'], { encoding: 'utf8' }).split('\n')[0]?.trim() ?? 'unknown';
}

/** Children still running, killed by pid if this process exits without stopping them. */
const livePids = new Set<number>();
let exitHookInstalled = false;
function trackPid(pid: number): void {
  livePids.add(pid);
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const each of livePids) {
      try {
        process.kill(each, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  });
}

interface MemberState {
  name: string;
  clientUrl: string;
  peerUrl: string;
  dataDir: string;
  args: string[];
  child: ChildProcess | undefined;
  exited: Promise<void> | undefined;
}

export class EtcdCluster {
  readonly #binary: string;
  readonly #root: string;
  readonly #members: MemberState[];
  #stopped = false;

  private constructor(binary: string, root: string, members: MemberState[]) {
    this.#binary = binary;
    this.#root = root;
    this.#members = members;
  }

  /** Starts `size` members on free loopback ports and waits until all of them agree on a leader. */
  static async start(options: EtcdClusterOptions = {}): Promise<EtcdCluster> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await EtcdCluster.#startOnce(options);
      } catch (error) {
        if (!(error instanceof PortTakenError) || attempt >= START_ATTEMPTS) throw error;
      }
    }
  }

  static async #startOnce(options: EtcdClusterOptions): Promise<EtcdCluster> {
    const size = options.size ?? 3;
    const binary = options.binary ?? findEtcdBinary();
    if (binary === undefined) throw new Error('etcd is not installed (apt-get install -y etcd-server)');
    const root = mkdtempSync(join(options.tmpRoot ?? tmpdir(), 'keel-etcd-'));
    const ports = await freeLoopbackPorts(size * 2);
    const token = `keel-${process.pid}-${Date.now().toString(36)}`;
    const names = Array.from({ length: size }, (_, index) => `m${index + 1}`);
    const scheme = options.tls === undefined ? 'http' : 'https';
    const peerUrls = names.map((_, index) => `${scheme}://127.0.0.1:${ports[size + index]}`);
    const initialCluster = names.map((name, index) => `${name}=${peerUrls[index]}`).join(',');
    const members = names.map((name, index): MemberState => {
      const clientUrl = `${scheme}://127.0.0.1:${ports[index]}`;
      const peerUrl = peerUrls[index]!;
      const dataDir = join(root, name);
      const args = [
        '--name', name, '--data-dir', dataDir,
        '--listen-client-urls', clientUrl, '--advertise-client-urls', clientUrl,
        '--listen-peer-urls', peerUrl, '--initial-advertise-peer-urls', peerUrl,
        '--initial-cluster', initialCluster, '--initial-cluster-state', 'new', '--initial-cluster-token', token,
        '--logger', 'zap', '--log-level', 'warn',
        ...tlsArgs(options.tls, index),
        ...(options.extraArgs ?? []),
      ];
      return { name, clientUrl, peerUrl, dataDir, args, child: undefined, exited: undefined };
    });
    const cluster = new EtcdCluster(binary, root, members);
    try {
      for (let index = 0; index < size; index++) cluster.#spawn(index);
      await cluster.waitForLeader(CLUSTER_READY_TIMEOUT_MS);
    } catch (error) {
      // Another process bound a member's port between our probe and etcd's bind: the caller tries fresh ports.
      const portTaken = cluster.#logsMention('address already in use');
      await cluster.stop();
      throw portTaken ? new PortTakenError(error) : error;
    }
    return cluster;
  }

  #logsMention(text: string): boolean {
    return this.#members.some((member) => {
      try {
        return readFileSync(join(this.#root, `${member.name}.log`), 'utf8').includes(text);
      } catch {
        return false;
      }
    });
  }

  get endpoints(): string[] {
    return this.#members.map((member) => member.clientUrl);
  }

  get members(): EtcdMember[] {
    return this.#members.map(({ name, clientUrl, peerUrl, dataDir, child }) => ({ name, clientUrl, peerUrl, dataDir, pid: child?.pid }));
  }

  get dataRoot(): string {
    return this.#root;
  }

  #spawn(index: number): void {
    const member = this.#members[index]!;
    mkdirSync(member.dataDir, { recursive: true });
    const logFd = openSync(join(this.#root, `${member.name}.log`), 'a');
    const child = spawn(this.#binary, member.args, { stdio: ['ignore', logFd, logFd] });
    closeSync(logFd);
    if (child.pid === undefined) throw new Error(`could not start ${this.#binary}`);
    const pid = child.pid;
    trackPid(pid);
    member.child = child;
    member.exited = new Promise((resolve) => {
      child.once('exit', () => {
        livePids.delete(pid);
        if (member.child === child) member.child = undefined;
        resolve();
      });
    });
  }

  /** The index of the member that the running members agree is leader; waits up to `timeoutMs`. */
  async waitForLeader(timeoutMs: number): Promise<number> {
    const deadlineMs = Date.now() + timeoutMs;
    for (let round = 0; Date.now() < deadlineMs; round++) {
      const leader = await this.#agreedLeader();
      if (leader !== undefined) return leader;
      await sleepMs(Math.min(50 * 2 ** Math.min(round, 3), 400));
    }
    throw new Error(`etcd cluster at ${this.#root} has no agreed leader after ${timeoutMs} ms (see the member logs there)`);
  }

  /** The index of the current leader, or undefined if the running members disagree or none is elected. */
  async leaderIndex(): Promise<number | undefined> {
    return this.#agreedLeader();
  }

  async #agreedLeader(): Promise<number | undefined> {
    const running = this.#members.map((member, index) => ({ member, index })).filter(({ member }) => member.child !== undefined);
    const answers = await Promise.all(
      running.map(async ({ member }) => {
        try {
          const status = (await postJson(member.clientUrl, '/v3/maintenance/status', {}, 1_000)) as { leader?: string; header?: { member_id?: string } };
          return { leader: status.leader, self: status.header?.member_id };
        } catch {
          return undefined;
        }
      }),
    );
    if (answers.some((answer) => answer === undefined || answer.leader === undefined || answer.leader === '0')) return undefined;
    const leaders = new Set(answers.map((answer) => answer!.leader));
    if (leaders.size !== 1) return undefined;
    const leaderId = [...leaders][0];
    const position = answers.findIndex((answer) => answer!.self === leaderId);
    return position < 0 ? undefined : running[position]!.index;
  }

  /** Sends `signal` (default SIGKILL) to member `index`'s pid and waits for it to exit. */
  async kill(index: number, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const member = this.#members[index];
    if (member?.child?.pid === undefined) return;
    const exited = member.exited;
    process.kill(member.child.pid, signal);
    await exited;
  }

  /** Starts member `index` again on its old data directory (a no-op if it is running). */
  restart(index: number): void {
    const member = this.#members[index];
    if (member === undefined || member.child !== undefined) return;
    this.#spawn(index);
  }

  /** SIGTERM to every member by pid, SIGKILL after MEMBER_STOP_TIMEOUT_MS, then removes the data directory. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    await Promise.all(this.#members.map((member) => this.#stopMember(member)));
    rmSync(this.#root, { recursive: true, force: true });
  }

  async #stopMember(member: MemberState): Promise<void> {
    const pid = member.child?.pid;
    if (pid === undefined) return;
    const exited = member.exited;
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      return;
    }
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(true), MEMBER_STOP_TIMEOUT_MS);
    });
    const late = await Promise.race([exited!.then(() => false), timedOut]);
    clearTimeout(timer);
    if (late && member.child?.pid === pid) {
      process.kill(pid, 'SIGKILL');
      await exited;
    }
  }
}
