import { strict as assert } from 'node:assert';
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TestContext } from 'node:test';
import { EtcdCluster, findEtcdBinary, findEtcdctlBinary } from '../../bench/lib/etcd-cluster.js';
import { startPair } from './etcd-pair.js';
import { Cluster, sleep } from '../node/cluster-harness.js';

/**
 * etcdctl against keel for the API beyond plain KV: put/get/del options,
 * interactive txn, watch (live, historical, --prev-kv, on a compacted
 * revision), leases, lock and elect (etcd's client-side concurrency recipes
 * over KV, lease and watch), compaction and endpoint hashkv. Where etcd is
 * installed the same commands run against a fresh 3-member etcd 3.4, in the
 * same order, and the normalised transcripts must match line for line:
 * both clusters start at revision 1 and get the same writes, so revisions
 * are compared as they are; ids (lease, member, cluster), terms, hashes
 * and remaining TTLs are placeholders. Long-running etcdctl processes
 * (watch, lock, elect) are children known by pid, signalled by pid, and
 * every wait on them is a bounded poll. Endpoints are host:port (see
 * src/api/client-port.ts).
 */
const etcdctlPath = findEtcdctlBinary();
const etcdPath = findEtcdBinary();
if (!etcdctlPath) console.log('# etcdctl not installed (apt-get install -y etcd-client): skipping the etcdctl watch/lease/lock/elect suite');
if (etcdctlPath && !etcdPath) console.log('# etcd not installed (apt-get install -y etcd-server): etcdctl watch/lease/lock/elect run against keel only, without comparison');

/** Polls of 100 ms: a bound on every wait for a child's output or a cluster's state. */
const WAIT_ROUNDS_MAX = 300;
const POLL_INTERVAL_MS = 100;

interface Run {
  readonly out: string;
  readonly err: string;
  readonly status: number | null;
}

/** One cluster under test: all endpoints, one endpoint (for a watcher whose member's gauge we poll), its watcher count. */
interface Target {
  readonly name: 'keel' | 'etcd';
  readonly endpoints: string;
  readonly first: string;
  readonly memberEndpoints: readonly string[];
  watchers(): Promise<number>;
}

/** etcdctl's client logs JSON lines on stderr (retries); its own messages are kept. */
function ownLines(text: string): string {
  return text.split('\n').filter((line) => line && !line.startsWith('{')).join('\n');
}

function etcdctl(endpoints: string, args: readonly string[], input?: string): Run {
  const run = spawnSync(etcdctlPath!, [`--endpoints=${endpoints}`, '--command-timeout=10s', ...args], { env: { ...process.env, ETCDCTL_API: '3' }, encoding: 'utf8', input, timeout: 30_000 });
  return { out: run.stdout, err: ownLines(run.stderr), status: run.status };
}

/** A long-running etcdctl, known by pid. */
class Background {
  readonly child: ChildProcess;
  #out = '';
  #err = '';
  readonly exited: Promise<number | null>;
  #exitCode: number | null | undefined;

  constructor(endpoints: string, args: readonly string[], env: Record<string, string> = {}) {
    this.child = spawn(etcdctlPath!, [`--endpoints=${endpoints}`, ...args], { env: { ...process.env, ETCDCTL_API: '3', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    assert.ok(this.child.pid, `could not start etcdctl ${args.join(' ')}`);
    live.add(this);
    this.child.stdout!.on('data', (chunk: Buffer) => (this.#out += chunk.toString()));
    this.child.stderr!.on('data', (chunk: Buffer) => (this.#err += chunk.toString()));
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code) => {
        live.delete(this);
        this.#exitCode = code;
        resolve(code);
      });
    });
  }

  get out(): string {
    return this.#out;
  }

  get err(): string {
    return ownLines(this.#err);
  }

  get running(): boolean {
    return this.#exitCode === undefined;
  }

  /** Signals this child's pid (etcdctl lock/elect release what they hold on SIGINT). */
  signal(signal: NodeJS.Signals): void {
    if (this.running) process.kill(this.child.pid!, signal);
  }

  /** Waits for the exit (bounded); SIGKILL by pid if it overstays, and says so. */
  async stop(signal: NodeJS.Signals): Promise<number | null> {
    this.signal(signal);
    for (let round = 0; round < WAIT_ROUNDS_MAX && this.running; round++) await sleep(POLL_INTERVAL_MS);
    if (this.running) {
      this.signal('SIGKILL');
      await this.exited;
      assert.fail(`etcdctl (pid ${this.child.pid}) ignored ${signal}`);
    }
    return this.#exitCode ?? null;
  }
}

const live = new Set<Background>();

async function waitUntil(what: string, check: () => boolean | Promise<boolean>, diagnostics: () => string = () => ''): Promise<void> {
  for (let round = 0; round < WAIT_ROUNDS_MAX; round++) {
    if (await check()) return;
    await sleep(POLL_INTERVAL_MS);
  }
  assert.fail(`gave up waiting (${WAIT_ROUNDS_MAX} polls) for ${what} ${diagnostics()}`);
}

/** Sums the samples of the named metrics in a /metrics text (labels ignored). */
async function metricSum(baseUrl: string, names: readonly string[]): Promise<number> {
  const response = await fetch(new URL('/metrics', baseUrl), { signal: AbortSignal.timeout(5_000) });
  const text = await response.text();
  let sum = 0;
  for (const line of text.split('\n')) {
    const name = /^([a-zA-Z_:][a-zA-Z0-9_:]*)/.exec(line)?.[1];
    if (name !== undefined && names.includes(name)) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

/** What differs between two clusters by nature becomes a placeholder; revisions stay. */
function normalise(text: string, target: Target): string {
  let out = text;
  for (const endpoint of target.memberEndpoints) out = out.split(endpoint).join('<endpoint>');
  return out
    .replace(/"(cluster_id|member_id|raft_term|ID|id|hash)":\d+/g, '"$1":"*"')
    // Lease time-to-live JSON: whole seconds left, which depend on when the command ran.
    .replace(/"ttl":\d+/g, '"ttl":"*"')
    .replace(/"lease":[1-9]\d*/g, '"lease":"*"')
    .replace(/remaining\(-?\d+s\)/g, 'remaining(*s)')
    // etcd lists a lease's keys by ranging over a Go map (its lessor's itemSet): any order, differing call to call.
    .replace(/attached keys\(\[([^\]]*)\]\)/g, (_, keys: string) => `attached keys([${keys.split(' ').sort().join(' ')}])`)
    .replace(/\b[0-9a-f]{12,16}\b/g, '<id>')
    .replace(/<endpoint>, \d+/g, '<endpoint>, <hash>');
}

function record(transcript: string[], target: Target, label: string, run: Run): Run {
  transcript.push(`$ ${normalise(label, target)}\n${normalise(run.out, target)}${run.err ? `[stderr] ${normalise(run.err, target)}\n` : ''}[exit ${run.status}]`);
  return run;
}

/** Runs and records one etcdctl command. */
function step(transcript: string[], target: Target, args: readonly string[], input?: string): Run {
  return record(transcript, target, args.join(' '), etcdctl(target.endpoints, args, input));
}

function revisionOf(run: Run): number {
  return Number((JSON.parse(run.out) as { header: { revision: number } }).header.revision);
}

function eventCount(out: string): number {
  return out.split('\n').filter((line) => line === 'PUT' || line === 'DELETE').length;
}

/** The same scenario on keel, then on etcd where it runs; keel's transcript must equal etcd's. */
async function onBoth(t: TestContext, targets: () => Target[], scenario: (target: Target, transcript: string[]) => Promise<void>): Promise<string[]> {
  const transcripts: string[][] = [];
  for (const target of targets()) {
    const transcript: string[] = [];
    await scenario(target, transcript);
    transcripts.push(transcript);
  }
  const [fromKeel, fromEtcd] = transcripts as [string[], string[] | undefined];
  if (process.env.KEEL_ETCDCTL_TRANSCRIPT) console.log(fromKeel.join('\n'));
  t.diagnostic(fromEtcd ? `${fromKeel.length} steps, keel's output equal to etcd's` : `${fromKeel.length} steps on keel; etcd not installed, nothing compared`);
  if (fromEtcd) {
    for (let index = 0; index < Math.max(fromKeel.length, fromEtcd.length); index++) {
      assert.equal(fromKeel[index], fromEtcd[index], `step ${index}:\n--- keel\n${fromKeel[index]}\n--- etcd\n${fromEtcd[index]}`);
    }
  }
  return fromKeel;
}

describe('etcdctl watch, lease, lock, elect, txn, compaction and hashkv', { skip: !etcdctlPath && 'etcdctl not installed' }, () => {
  let keel: Cluster;
  let etcd: EtcdCluster | undefined;
  const targets = (): Target[] => {
    const keelEndpoints = keel.members.map((m) => `127.0.0.1:${m.clientPort}`);
    const list: Target[] = [
      {
        name: 'keel',
        endpoints: keelEndpoints.join(','),
        first: keelEndpoints[0]!,
        memberEndpoints: keelEndpoints,
        watchers: () => metricSum(keel.members[0]!.clientUrl, ['keel_watchers']),
      },
    ];
    if (etcd) {
      const etcdEndpoints = etcd.endpoints.map((url) => url.replace('http://', ''));
      list.push({
        name: 'etcd',
        endpoints: etcdEndpoints.join(','),
        first: etcdEndpoints[0]!,
        memberEndpoints: etcdEndpoints,
        watchers: () => metricSum(etcd!.endpoints[0]!, ['etcd_debugging_mvcc_watcher_total']),
      });
    }
    return list;
  };

  before(async () => {
    [keel, etcd] = await startPair(etcdPath);
  });
  after(async () => {
    for (const child of live) child.signal('SIGKILL');
    await Promise.all([keel?.stop(), etcd?.stop()]);
  });

  it('put/get/del with --prefix, --prev-kv and -w json; txn from stdin, both branches', async (t) => {
    const keelRuns = await onBoth(t, targets, async (target, transcript) => {
      step(transcript, target, ['put', 'k/a', '1']);
      step(transcript, target, ['put', 'k/b', '2']);
      step(transcript, target, ['put', 'k/a', '10', '--prev-kv']);
      step(transcript, target, ['put', 'k/c', '3', '-w', 'json']);
      step(transcript, target, ['get', 'k/', '--prefix']);
      step(transcript, target, ['get', 'k/', '--prefix', '-w', 'json']);
      step(transcript, target, ['get', 'k/', '--prefix', '--keys-only', '--limit', '2', '--order', 'DESCEND']);
      step(transcript, target, ['get', 'k/a', '--rev', '2', '-w', 'json']);
      step(transcript, target, ['del', 'k/a', '--prev-kv']);
      step(transcript, target, ['del', 'k/', '--prefix', '--prev-kv', '-w', 'json']);
      step(transcript, target, ['get', 'k/', '--from-key', '--keys-only']);
      step(transcript, target, ['put', 'k/t', '1']);
      // compares, blank line, success ops, blank line, failure ops, blank line.
      const txn = 'value("k/t") = "1"\n\nput k/t 2\nget k/t\n\nput k/t failed\nget k/t\n\n';
      step(transcript, target, ['txn'], txn); // SUCCESS: k/t was 1
      step(transcript, target, ['txn'], txn); // FAILURE: k/t is 2 now
      step(transcript, target, ['txn', '-w', 'json'], 'mod("k/t") > "0"\nversion("k/t") = "3"\n\ndel k/t\n\nget k/t --prefix\n\n');
      step(transcript, target, ['get', 'k/t', '-w', 'json']);
    });
    assert.match(keelRuns[2]!, /^\$ put k\/a 10 --prev-kv\nOK\nk\/a\n1\n/);
    assert.match(keelRuns[12]!, /\nSUCCESS\n\nOK\n\nk\/t\n2\n/);
    assert.match(keelRuns[13]!, /\nFAILURE\n\nOK\n\nk\/t\nfailed\n/);
  });

  it('watch --prefix as a child process sees puts and deletes; watch --rev replays history, with --prev-kv', async (t) => {
    const keelRuns = await onBoth(t, targets, async (target, transcript) => {
      const baseline = await target.watchers();
      const watcher = new Background(target.first, ['watch', '--prefix', 'w/']);
      // Established once the member's watcher gauge counts it: no sentinel writes, so revisions stay in step.
      await waitUntil(`${target.name}'s watcher to register`, async () => (await target.watchers()) > baseline, () => watcher.err);
      const first = revisionOf(step(transcript, target, ['put', 'w/a', '1', '-w', 'json']));
      step(transcript, target, ['put', 'w/b', '2']);
      step(transcript, target, ['put', 'w/a', '3']);
      step(transcript, target, ['del', 'w/', '--prefix']);
      step(transcript, target, ['put', 'x/outside', 'not watched']);
      await waitUntil(`${target.name}'s watcher to print 5 events`, () => eventCount(watcher.out) >= 5, () => watcher.out + watcher.err);
      const status = await watcher.stop('SIGTERM');
      record(transcript, target, 'watch --prefix w/ (killed by pid after 5 events)', { out: watcher.out, err: watcher.err, status: status === null ? null : 0 });

      for (const args of [['watch', '--prefix', 'w/', `--rev=${first}`], ['watch', '--prefix', 'w/', `--rev=${first + 1}`, '--prev-kv'], ['watch', 'w/a', `--rev=${first}`, '-w', 'json']]) {
        const expected = args.includes('w/a') ? 3 : args.includes('--prev-kv') ? 4 : 5;
        const history = new Background(target.first, args);
        // -w json prints one JSON watch response per line; each event in it has one "kv" (no --prev-kv there).
        const seen = (): number => (args.includes('json') ? (history.out.match(/"kv":/g) ?? []).length : eventCount(history.out));
        await waitUntil(`${target.name}: etcdctl ${args.join(' ')} to print ${expected} events`, () => seen() >= expected, () => history.out + history.err);
        await history.stop('SIGTERM');
        const out = args.includes('json') ? history.out.split('\n').filter(Boolean).map((line) => normalise(line, target)).join('\n') + '\n' : history.out;
        record(transcript, target, args.join(' ').replace(String(first + 1), 'FIRST+1').replace(String(first), 'FIRST'), { out, err: history.err, status: 0 });
      }
    });
    assert.match(keelRuns[5]!, /PUT\nw\/a\n1\nPUT\nw\/b\n2\nPUT\nw\/a\n3\nDELETE\nw\/a\n\nDELETE\nw\/b\n\n/);
    // --prev-kv prints the previous pair before the new one.
    assert.match(keelRuns[7]!, /PUT\nw\/a\n1\nw\/a\n3\n/);
  });

  it('lease grant 5, put --lease, keep-alive --once, timetolive --keys, list, revoke', async (t) => {
    const keelRuns = await onBoth(t, targets, async (target, transcript) => {
      const granted = step(transcript, target, ['lease', 'grant', '5']);
      const id = /lease ([0-9a-f]+) granted/.exec(granted.out)?.[1];
      assert.ok(id, `${target.name}: ${granted.out} ${granted.err}`);
      step(transcript, target, ['put', '--lease', id, 'l/a', '1']);
      step(transcript, target, ['put', '--lease', id, 'l/b', '2']);
      step(transcript, target, ['lease', 'keep-alive', '--once', id]);
      step(transcript, target, ['lease', 'timetolive', id, '--keys']);
      step(transcript, target, ['lease', 'timetolive', id, '-w', 'json']);
      step(transcript, target, ['lease', 'list']);
      step(transcript, target, ['get', 'l/', '--prefix', '-w', 'json']);
      step(transcript, target, ['lease', 'revoke', id]);
      step(transcript, target, ['get', 'l/', '--prefix']);
      step(transcript, target, ['lease', 'timetolive', id]);
      step(transcript, target, ['lease', 'list']);
      step(transcript, target, ['lease', 'revoke', id]);
      step(transcript, target, ['lease', 'keep-alive', '--once', id]);
      step(transcript, target, ['put', '--lease', id, 'l/c', '3']);
    });
    assert.match(keelRuns[0]!, /lease <id> granted with TTL\(5s\)/);
    assert.match(keelRuns[3]!, /lease <id> keepalived with TTL\(5\)/);
    assert.match(keelRuns[4]!, /lease <id> granted with TTL\(5s\), remaining\(\*s\), attached keys\(\[l\/a l\/b\]\)/);
    assert.match(keelRuns[6]!, /found 1 leases\n<id>\n/);
    assert.match(keelRuns[10]!, /lease <id> already expired/);
    assert.match(keelRuns[12]!, /etcdserver: requested lease not found/);
  });

  it('lock: a second etcdctl lock waits while the first holds it, and runs its command once the first lets go', async (t) => {
    const marker = (target: Target): string => join(keel.root, `lock-${target.name}.marker`);
    const script = join(keel.root, 'locked.sh');
    // A script file, not `sh -c`: etcdctl's flag parser would take -c as its own.
    writeFileSync(script, '#!/bin/sh\necho "entered" >> "$LOCK_MARKER"\necho "ran under $ETCD_LOCK_KEY"\n');
    chmodSync(script, 0o755);
    const keelRuns = await onBoth(t, targets, async (target, transcript) => {
      const holder = new Background(target.endpoints, ['lock', 'mutex']);
      await waitUntil(`${target.name}: the first lock holder to print its key`, () => holder.out.includes('mutex/'), () => holder.err);
      const waiter = new Background(target.endpoints, ['lock', 'mutex', script], { LOCK_MARKER: marker(target) });
      // The waiter has put its own key behind the holder's: it is contending, not just slow to start.
      await waitUntil(`${target.name}: the second locker to queue`, () => etcdctl(target.endpoints, ['get', 'mutex', '--prefix', '--keys-only']).out.split('\n').filter(Boolean).length === 2, () => waiter.err);
      assert.equal(existsSync(marker(target)), false, `${target.name}: the second locker ran its command while the first held the lock`);
      assert.equal(waiter.running, true);
      const holderExit = await holder.stop('SIGINT');
      await waitUntil(`${target.name}: the second locker to run and exit`, () => !waiter.running, () => waiter.out + waiter.err);
      record(transcript, target, 'lock mutex (holder, SIGINT by pid once the waiter queued)', { out: holder.out, err: holder.err, status: holderExit });
      record(transcript, target, 'lock mutex locked.sh (waiter)', { out: waiter.out, err: waiter.err, status: await waiter.exited });
      record(transcript, target, 'marker', { out: readFileSync(marker(target), 'utf8'), err: '', status: 0 });
      step(transcript, target, ['get', 'mutex', '--prefix', '--keys-only']);
    });
    assert.match(keelRuns[0]!, /^\$ lock mutex .*\nmutex\/<id>\n+\[exit 0\]$/);
    assert.match(keelRuns[1]!, /ran under mutex\/<id>\n\[exit 0\]$/);
    assert.match(keelRuns[2]!, /^\$ marker\nentered\n\[exit 0\]$/);
  });

  it('elect: one leader at a time, the observer (elect -l) follows it to the next campaigner when the first resigns', async (t) => {
    const keelRuns = await onBoth(t, targets, async (target, transcript) => {
      const first = new Background(target.endpoints, ['elect', 'office', 'p1']);
      await waitUntil(`${target.name}: p1 to be elected`, () => first.out.includes('p1'), () => first.err);
      const observer = new Background(target.endpoints, ['elect', '-l', 'office']);
      await waitUntil(`${target.name}: the observer to see p1`, () => observer.out.includes('p1'), () => observer.err);
      const second = new Background(target.endpoints, ['elect', 'office', 'p2']);
      await waitUntil(`${target.name}: p2 to campaign`, () => etcdctl(target.endpoints, ['get', 'office', '--prefix', '--keys-only']).out.split('\n').filter(Boolean).length === 2, () => second.err);
      assert.equal(second.out, '', `${target.name}: p2 was elected while p1 led`);
      const firstExit = await first.stop('SIGINT');
      await waitUntil(`${target.name}: p2 to be elected`, () => second.out.includes('p2'), () => second.err);
      await waitUntil(`${target.name}: the observer to see p2`, () => observer.out.includes('p2'), () => observer.out + observer.err);
      const secondExit = await second.stop('SIGINT');
      const observerExit = await observer.stop('SIGINT');
      record(transcript, target, 'elect office p1 (SIGINT by pid)', { out: first.out, err: first.err, status: firstExit });
      record(transcript, target, 'elect office p2 (SIGINT by pid)', { out: second.out, err: second.err, status: secondExit });
      record(transcript, target, 'elect -l office (SIGINT by pid)', { out: observer.out, err: observer.err, status: observerExit });
      step(transcript, target, ['get', 'office', '--prefix', '--keys-only']);
    });
    assert.match(keelRuns[0]!, /\noffice\/<id>\np1\n/);
    assert.match(keelRuns[1]!, /\noffice\/<id>\np2\n/);
    assert.match(keelRuns[2]!, /\noffice\/<id>\np1\noffice\/<id>\np2\n/);
  });

  it('compaction, reads and watches below it, and endpoint hashkv agreeing across members', async (t) => {
    const keelRuns = await onBoth(t, targets, async (target, transcript) => {
      const first = revisionOf(step(transcript, target, ['put', 'c/a', '1', '-w', 'json']));
      step(transcript, target, ['put', 'c/a', '2']);
      const last = revisionOf(step(transcript, target, ['put', 'c/a', '3', '-w', 'json']));
      step(transcript, target, ['compaction', String(last - 1)]);
      step(transcript, target, ['get', 'c/a', '--rev', String(first)]);
      step(transcript, target, ['get', 'c/a', '--rev', String(last - 1)]);
      step(transcript, target, ['compaction', String(last - 1)]);
      step(transcript, target, ['compaction', String(last + 100)]);
      step(transcript, target, ['compaction', '--physical', String(last)]);
      const watcher = new Background(target.first, ['watch', 'c/a', `--rev=${first}`]);
      // The server cancels a watch below the compacted revision and etcdctl exits.
      await waitUntil(`${target.name}: the watch on a compacted revision to end`, () => !watcher.running, () => watcher.out + watcher.err);
      record(transcript, target, 'watch c/a --rev=FIRST (compacted)', { out: watcher.out, err: watcher.err, status: await watcher.exited });
      const hashes = step(transcript, target, ['endpoint', 'hashkv']);
      const values = [...(hashes.out + hashes.err).matchAll(/, (\d+)$/gm)].map((match) => match[1]);
      assert.equal(values.length, 3, `${target.name}: ${hashes.out} ${hashes.err}`);
      assert.equal(new Set(values).size, 1, `${target.name}'s members disagree on hashkv: ${hashes.out}`);
    });
    assert.match(keelRuns[3]!, /compacted revision \d+/);
    assert.match(keelRuns[4]!, /required revision has been compacted/);
    assert.match(keelRuns[9]!, /watch was canceled/);
  });
});
