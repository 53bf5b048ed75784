import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freeLoopbackPorts } from '../../bench/lib/net.js';

/**
 * Real member processes for system tests: the built `keel node` binary on
 * loopback ports, killed with real signals by PID. Every process started
 * here is stopped by `stop()`.
 */
const root = join(import.meta.dirname, '../..');
const bin = join(root, 'dist/src/cli/main.js');

export interface Member {
  readonly id: string;
  readonly clientUrl: string;
  readonly peerPort: number;
  readonly clientPort: number;
  readonly dataDir: string;
  child: ChildProcess | undefined;
  /** Flags for this member only (a member added to a running cluster joins with --initial-cluster-state existing). */
  flags?: readonly string[];
  /** Exit code or signal of the last run, once it exited. */
  exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  stderr: string;
}

export interface ClusterOptions {
  readonly nodes?: number;
  /** Extra flags for every member. */
  readonly flags?: readonly string[];
  /** The host name in --peers and --client-urls (members listen on 127.0.0.1 whatever it is); default 127.0.0.1. */
  readonly host?: string;
  /** Give each member its id in KEEL_ID rather than --id (as a Kubernetes pod gets its name). */
  readonly idFromEnvironment?: boolean;
  /** 'https' when the flags give the members client TLS (the test sets a global undici dispatcher that trusts its CA); default 'http'. */
  readonly scheme?: 'http' | 'https';
}

/** Free loopback ports for member processes (see freeLoopbackPorts: below the ephemeral range, so no outgoing connection takes one first). */
export const freePorts = freeLoopbackPorts;

/** Clusters whose member could not bind its port start again on fresh ports, at most this many times. */
const START_ATTEMPTS = 3;

export class Cluster {
  readonly members: Member[] = [];
  readonly root: string;
  readonly #flags: readonly string[];
  readonly #host: string;
  readonly #idFromEnvironment: boolean;
  #peers = '';
  #clientUrls = '';

  private constructor(root: string, options: ClusterOptions) {
    this.root = root;
    this.#flags = options.flags ?? [];
    this.#host = options.host ?? '127.0.0.1';
    this.#idFromEnvironment = options.idFromEnvironment ?? false;
  }

  static async start(options: ClusterOptions = {}): Promise<Cluster> {
    for (let attempt = 1; ; attempt++) {
      const cluster = await Cluster.#launchAll(options);
      try {
        await cluster.waitReady();
        return cluster;
      } catch (error) {
        await cluster.stop();
        // Another process bound a member's port between our probe and the member's bind: try fresh ports.
        const portTaken = cluster.members.some((m) => m.stderr.includes('EADDRINUSE'));
        if (!portTaken || attempt >= START_ATTEMPTS) throw error;
      }
    }
  }

  static async #launchAll(options: ClusterOptions): Promise<Cluster> {
    const nodes = options.nodes ?? 3;
    const cluster = new Cluster(mkdtempSync(join(tmpdir(), 'keel-cluster-')), options);
    const ports = await freePorts(nodes * 2);
    for (let i = 0; i < nodes; i++) {
      const id = `n${i + 1}`;
      cluster.members.push({
        id,
        clientPort: ports[2 * i]!,
        peerPort: ports[2 * i + 1]!,
        clientUrl: `${options.scheme ?? 'http'}://${cluster.#host}:${ports[2 * i]}`,
        dataDir: join(cluster.root, id),
        child: undefined,
        exit: undefined,
        stderr: '',
      });
    }
    cluster.#peers = cluster.members.map((m) => `${m.id}=${cluster.#host}:${m.peerPort}`).join(',');
    cluster.#clientUrls = cluster.members.map((m) => `${m.id}=${m.clientUrl}`).join(',');
    for (const member of cluster.members) cluster.launch(member.id);
    return cluster;
  }

  member(id: string): Member {
    const member = this.members.find((m) => m.id === id);
    if (!member) throw new Error(`no member ${id}`);
    return member;
  }

  /** Starts (or restarts) a member process; `env` adds variables such as KEEL_FAILPOINTS. */
  launch(id: string, env: Record<string, string> = {}): void {
    const member = this.member(id);
    if (member.child) throw new Error(`${id} is already running`);
    const child = spawn(
      process.execPath,
      [
        bin, 'node',
        ...(this.#idFromEnvironment ? [] : ['--id', id]),
        '--data-dir', member.dataDir,
        '--listen-peer', `127.0.0.1:${member.peerPort}`,
        '--listen-client', `127.0.0.1:${member.clientPort}`,
        '--peers', this.#peers,
        '--client-urls', this.#clientUrls,
        '--log-level', 'warn',
        ...this.#flags,
        ...(member.flags ?? []),
      ],
      { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...(this.#idFromEnvironment ? { KEEL_ID: id } : {}), ...env } },
    );
    member.child = child;
    member.exit = undefined;
    member.stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => {
      if (member.stderr.length < 200_000) member.stderr += chunk.toString();
    });
    child.on('exit', (code, signal) => {
      member.exit = { code, signal };
      if (member.child === child) member.child = undefined;
    });
  }

  /**
   * Registers a member that joins the running cluster (after MemberAdd):
   * fresh ports, and from now on every launch lists it in --peers and
   * --client-urls. It starts with --initial-cluster-state existing; call
   * launch(id) to start it.
   */
  async addMember(id: string): Promise<Member> {
    const [clientPort, peerPort] = (await freePorts(2)) as [number, number];
    const member: Member = {
      id, clientPort, peerPort, clientUrl: `http://${this.#host}:${clientPort}`, dataDir: join(this.root, id),
      child: undefined, exit: undefined, stderr: '', flags: ['--initial-cluster-state', 'existing'],
    };
    this.members.push(member);
    this.#peers = this.members.map((m) => `${m.id}=${this.#host}:${m.peerPort}`).join(',');
    this.#clientUrls = this.members.map((m) => `${m.id}=${m.clientUrl}`).join(',');
    return member;
  }

  /** Sends `signal` to the member's process and waits for it to exit. */
  async kill(id: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const member = this.member(id);
    const child = member.child;
    if (!child) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill(signal);
    await exited;
  }

  /** Waits for a member's process to exit by itself (a failpoint crash). */
  async exited(id: string, timeoutMs = 30_000): Promise<Member['exit']> {
    const member = this.member(id);
    const child = member.child;
    if (!child) return member.exit;
    await withTimeout(new Promise<void>((resolve) => child.once('exit', () => resolve())), timeoutMs, `${id} did not exit`);
    return member.exit;
  }

  /** Waits until every running member answers /readyz (a leader is known and it has applied what is committed). The bound is generous: on a starved 2-core machine, several clusters start at once. */
  async waitReady(timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (const member of this.members.filter((m) => m.child)) {
      for (;;) {
        if (await isReady(member.clientUrl)) break;
        if (!member.child) throw new Error(`${member.id} exited (${JSON.stringify(member.exit)}) before it was ready: ${member.stderr.slice(-2000)}`);
        if (Date.now() > deadline) throw new Error(`${member.id} not ready (${await describe(this.members)}): ${member.stderr.slice(-2000)}`);
        await sleep(50);
      }
    }
  }

  async leader(timeoutMs = 30_000): Promise<Member> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      for (const member of this.members.filter((m) => m.child)) {
        try {
          const status = (await call(member.clientUrl, '/v3/maintenance/status', {})) as { leader?: string; header: { member_id: string } };
          if (status.leader && status.leader === status.header.member_id) return member;
        } catch {
          // down or not answering: ask the next
        }
      }
      if (Date.now() > deadline) throw new Error('no leader');
      await sleep(50);
    }
  }

  /**
   * Puts key=value through whichever member leads, trying again after a
   * failure (a leader change or a timeout on a loaded machine). A failed
   * attempt may still have applied, so this is only for writes where
   * applying twice is harmless: the test cares that the key holds the value,
   * not how many revisions it took. Returns the acknowledged revision.
   */
  async putUntilAcknowledged(key: string, value: string, timeoutMs = 30_000, through?: () => readonly Member[]): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (let attempt = 0; ; attempt++) {
      try {
        // `through`: the members to try in turn (a follower forwards), for when asking every member who leads would
        // wait on one that cannot answer (a SIGSTOPped member holds each status call for its whole timeout).
        const members = through?.();
        const target = members === undefined ? await this.leader(Math.max(1, deadline - Date.now())) : members[attempt % members.length]!;
        return await put(target.clientUrl, key, value, 5_000);
      } catch (error) {
        if (Date.now() > deadline) throw error;
        await sleep(Math.min(500, 50 * 2 ** Math.min(attempt, 4)));
      }
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.members.filter((m) => m.child).map((m) => this.kill(m.id, 'SIGKILL')));
    rmSync(this.root, { recursive: true, force: true });
  }
}

/**
 * What each running member says of itself, for a start that timed out: its
 * view of the leader, term and indexes, or why it did not answer. A member
 * that never became ready is otherwise a bare timeout with nothing to go on.
 */
async function describe(members: readonly Member[]): Promise<string> {
  const views = await Promise.all(members.filter((m) => m.child).map(async (m) => {
    try {
      const response = await fetch(`${m.clientUrl}/v3/maintenance/status`, { method: 'POST', body: '{}', signal: AbortSignal.timeout(2000) });
      const status = (await response.json()) as { header?: { member_id?: string }; leader?: string; raftTerm?: string; raftIndex?: string; raftAppliedIndex?: string; errors?: string[] };
      const ready = await isReady(m.clientUrl);
      return `${m.id}: id ${status.header?.member_id} leader ${status.leader ?? 'none'} term ${status.raftTerm} index ${status.raftIndex} applied ${status.raftAppliedIndex}${status.errors?.length ? ` errors ${status.errors.join('; ')}` : ''} ready ${ready}`;
    } catch (error) {
      return `${m.id}: no status (${(error as Error).message}; process state ${processState(m.child?.pid)})`;
    }
  }));
  return views.join(' | ');
}

/** The state letter in /proc/PID/stat (R running, S sleeping, T stopped, ...), and the CPU it has used: tells a stopped or spinning member from a slow one. */
function processState(pid: number | undefined): string {
  if (pid === undefined) return 'no pid';
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return `${fields[0]}, ${(Number(fields[11]) + Number(fields[12])) / 100} s CPU`;
  } catch {
    return 'unknown';
  }
}

async function isReady(url: string): Promise<boolean> {
  try {
    const response = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(1000) });
    return response.ok;
  } catch {
    return false;
  }
}

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: Record<string, unknown>,
  ) {
    super(`HTTP ${status}: ${JSON.stringify(body)}`);
  }
}

/** POSTs JSON to a member; throws HttpError on a non-2xx answer. */
export async function call(url: string, path: string, body: unknown, timeoutMs = 5_000): Promise<Record<string, unknown>> {
  const response = await fetch(`${url}${path}`, {
    method: 'POST',
    body: typeof body === 'string' ? body : JSON.stringify(body),
    headers: { 'content-type': 'application/json' },
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await response.text();
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(text) as Record<string, unknown>;
  } catch {
    parsed = { raw: text };
  }
  if (!response.ok) throw new HttpError(response.status, parsed);
  return parsed;
}

export const b64 = (text: string): string => Buffer.from(text).toString('base64');
export const unb64 = (text: string | undefined): string => (text === undefined ? '' : Buffer.from(text, 'base64').toString());

export async function put(url: string, key: string, value: string, timeoutMs?: number): Promise<number> {
  const response = await call(url, '/v3/kv/put', { key: b64(key), value: b64(value) }, timeoutMs);
  return Number((response.header as { revision: string }).revision);
}

export async function get(url: string, key: string, options: { serializable?: boolean } = {}): Promise<{ value: string | undefined; version: number; revision: number }> {
  const response = await call(url, '/v3/kv/range', { key: b64(key), ...(options.serializable ? { serializable: true } : {}) });
  const kvs = response.kvs as { value?: string; version?: string }[] | undefined;
  return {
    value: kvs?.[0] ? unb64(kvs[0].value) : undefined,
    version: Number(kvs?.[0]?.version ?? 0),
    revision: Number((response.header as { revision: string }).revision),
  };
}

/** The raft term a member reports in its status. */
export async function raftTerm(url: string): Promise<number> {
  const status = (await call(url, '/v3/maintenance/status', {})) as { raftTerm?: string };
  return Number(status.raftTerm);
}

/** Every key with the prefix, as key -> { value, version }. */
export async function dump(url: string, prefix: string): Promise<Map<string, { value: string; version: number }>> {
  const end = Buffer.from(prefix);
  end[end.length - 1]! += 1;
  const response = await call(url, '/v3/kv/range', { key: b64(prefix), range_end: end.toString('base64') }, 15_000);
  const out = new Map<string, { value: string; version: number }>();
  for (const kv of (response.kvs as { key: string; value?: string; version?: string }[] | undefined) ?? []) {
    out.set(unb64(kv.key), { value: unb64(kv.value), version: Number(kv.version ?? 0) });
  }
  return out;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `check` every 50 ms until it holds; fails the test naming `what` once `timeoutMs` passes (a bound, not a timing assertion). */
export async function eventually(check: () => Promise<boolean> | boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await sleep(50);
  }
  assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

export async function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error(message)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}
