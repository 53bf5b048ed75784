import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import type { Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually, freePorts } from '../node/cluster-harness.js';
import { lockDataDir } from '../../src/node/data-dir.js';
import { planCluster } from '../../src/cli/up.js';
import { freeKeelUpBase } from '../../bench/lib/net.js';

// What must not happen when an operator runs keel up (or a member) next to
// a running cluster: nothing it does may touch the running one, and it must
// say why it refuses. Real processes, real ports, real flock.
const bin = join(import.meta.dirname, '../../dist/src/cli/main.js');
const EXIT_PERMANENT = 78;

interface Run {
  readonly child: ChildProcess;
  stdout: string;
  stderr: string;
  readonly exited: Promise<number | null>;
}

function run(args: readonly string[]): Run {
  const child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const result: Run = {
    child,
    stdout: '',
    stderr: '',
    exited: new Promise((resolve) => child.once('exit', (code) => resolve(code))),
  };
  child.stdout!.on('data', (chunk: Buffer) => (result.stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (result.stderr += chunk.toString()));
  return result;
}


async function exitCodeWithin(running: Run, timeoutMs: number): Promise<number | null> {
  const timer = setTimeout(() => running.child.kill('SIGKILL'), timeoutMs);
  const code = await running.exited;
  clearTimeout(timer);
  return code;
}



function hold(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}


/** sha1 of every file below `dir`, by relative path. */
function fingerprint(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (sub: string): void => {
    for (const name of readdirSync(join(dir, sub))) {
      const relative = join(sub, name);
      const full = join(dir, relative);
      if (statSync(full).isDirectory()) walk(relative);
      else out.set(relative, `${statSync(full).size}:${createHash('sha1').update(readFileSync(full)).digest('hex')}`);
    }
  };
  walk('');
  return out;
}

interface ClusterFile {
  clusterName: string;
  clusterId: string;
  supervisorPid: number;
  members: Array<{ id: string; pid: number | null; clientUrl: string; logPath: string; restarts: number; failed?: string }>;
  gateway?: { pid: number | null };
}

test('a second keel up or member next to a running cluster refuses, names who holds what, and changes nothing', { timeout: 240_000 }, async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'keel-up-a-'));
  const otherDir = mkdtempSync(join(tmpdir(), 'keel-up-b-'));
  const base = await freeKeelUpBase(3);
  const [gatewayPort, adminPort, otherGateway, otherAdmin] = await freePorts(4);
  const first = run(['up', '--base-port', String(base), '--data-dir', dataDir, '--gateway-port', String(gatewayPort), '--admin-port', String(adminPort)]);
  t.after(async () => {
    first.child.kill('SIGINT');
    await exitCodeWithin(first, 30_000);
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(otherDir, { recursive: true, force: true });
  });
  await eventually(() => /leader is n\d/.test(first.stdout), 60_000, 'the first cluster\'s leader');
  const clusterPath = join(dataDir, 'cluster.json');
  await eventually(() => (JSON.parse(readFileSync(clusterPath, 'utf8')) as ClusterFile).gateway?.pid != null, 10_000, 'the gateway pid');
  const before = readFileSync(clusterPath, 'utf8');
  const cluster = JSON.parse(before) as ClusterFile;
  assert.match(first.stdout, /log \/.*n1\/keel\.log/, 'keel up prints where each member logs');

  // 1. Same ports, another data dir: refused before anything starts, each port named with its holder.
  const samePorts = run(['up', '--base-port', String(base), '--data-dir', otherDir, '--gateway-port', String(gatewayPort), '--admin-port', String(adminPort)]);
  assert.equal(await exitCodeWithin(samePorts, 30_000), 1);
  for (const member of cluster.members) {
    const clientPort = Number(new URL(member.clientUrl).port);
    assert.match(samePorts.stderr, new RegExp(`port ${clientPort} \\(${member.id} client\\) is in use by pid ${member.pid}\\b`));
    assert.match(samePorts.stderr, new RegExp(`port ${clientPort + 1} \\(${member.id} peer\\) is in use by pid ${member.pid}\\b`));
  }
  assert.match(samePorts.stderr, new RegExp(`port ${gatewayPort} \\(gateway\\) is in use by pid ${cluster.gateway!.pid}\\b`));
  assert.doesNotMatch(samePorts.stdout, /leader is/, 'it must not report the other cluster\'s leader');
  assert.equal(existsSync(join(otherDir, 'cluster.json')), false);
  assert.equal(existsSync(join(otherDir, 'n1')), false, 'no member was started');

  // 2. The same data dir on free ports: the data dir's lock names the running keel up.
  const otherBase = await freeKeelUpBase(3);
  const sameDir = run(['up', '--base-port', String(otherBase), '--data-dir', dataDir, '--gateway-port', String(otherGateway), '--admin-port', String(otherAdmin)]);
  assert.equal(await exitCodeWithin(sameDir, 30_000), 1);
  assert.match(sameDir.stderr, new RegExp(`in use by another process \\(pid ${cluster.supervisorPid}\\)`));
  assert.equal(readFileSync(clusterPath, 'utf8'), before, 'the running cluster\'s cluster.json is untouched');

  // 3. A member started on a live member's data dir: KEEL_NODE_DATA_DIR_LOCKED, exit 78, not one byte changed.
  //    The live member is paused so that it cannot write on its own while the files are compared.
  const n1 = cluster.members[0]!;
  process.kill(n1.pid!, 'SIGSTOP');
  try {
    const memberDir = join(dataDir, 'n1');
    const files = fingerprint(memberDir);
    const [peer, client] = await freePorts(2);
    const intruder = run(['node', '--id', 'n1', '--data-dir', memberDir, '--listen-peer', `127.0.0.1:${peer}`, '--listen-client', `127.0.0.1:${client}`, '--peers', `n1=127.0.0.1:${peer}`]);
    assert.equal(await exitCodeWithin(intruder, 30_000), EXIT_PERMANENT);
    assert.match(intruder.stderr, new RegExp(`${memberDir} is in use by another process \\(pid ${n1.pid}\\)`));
    assert.match(intruder.stderr, /"code":"KEEL_NODE_DATA_DIR_LOCKED"/);
    assert.deepEqual(fingerprint(memberDir), files);
  } finally {
    process.kill(n1.pid!, 'SIGCONT');
  }

  // 4. keel status reads the cluster file and asks every member.
  const status = run(['status', '--data-dir', dataDir, '-w', 'json']);
  assert.equal(await exitCodeWithin(status, 30_000), 0, status.stderr);
  const report = JSON.parse(status.stdout) as { leader: string; answered: number; members: Array<{ name: string; pid: number; logPath: string; reply: { clusterId: string; term: number } }> };
  assert.equal(report.answered, 3);
  assert.match(report.leader, /^n[123]$/);
  assert.deepEqual(report.members.map((member) => member.name), ['n1', 'n2', 'n3']);
  assert.ok(report.members.every((member) => member.reply.clusterId === cluster.clusterId && member.logPath.endsWith('keel.log')));
  const table = run(['status', '--data-dir', dataDir]);
  assert.equal(await exitCodeWithin(table, 30_000), 0);
  assert.match(table.stdout, /\| MEMBER +\| ENDPOINT/);
  assert.match(table.stdout, new RegExp(`leader: ${report.leader}; 3/3 members answered`));
});

test('keel up --nodes 7 on partly taken ports names them and starts nothing', { timeout: 60_000 }, async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'keel-up-7-'));
  const base = await freeKeelUpBase(7);
  const [gatewayPort, adminPort] = await freePorts(2);
  const plans = planCluster(7, base, dataDir);
  const [n5Client, n6Peer] = [plans[4]!.clientPort, plans[5]!.peerPort];
  const taken = [await hold(n5Client), await hold(n6Peer)];
  t.after(() => {
    for (const server of taken) server.close();
    rmSync(dataDir, { recursive: true, force: true });
  });
  const up = run(['up', '--nodes', '7', '--base-port', String(base), '--data-dir', dataDir, '--gateway-port', String(gatewayPort), '--admin-port', String(adminPort)]);
  assert.equal(await exitCodeWithin(up, 30_000), 1);
  assert.match(up.stderr, new RegExp(`port ${n5Client} \\(n5 client\\) is in use by pid ${process.pid}\\b`));
  assert.match(up.stderr, new RegExp(`port ${n6Peer} \\(n6 peer\\) is in use by pid ${process.pid}\\b`));
  assert.match(up.stderr, /nothing was started/);
  assert.deepEqual(readdirSync(dataDir).sort(), ['LOCK'], 'no member directory, no cluster.json');
});

test('a member that cannot start for good (locked data dir) is not restarted, and keel up does not run a partial cluster', { timeout: 90_000 }, async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'keel-up-locked-'));
  mkdirSync(join(dataDir, 'n2'));
  // This test process holds n2's lock, as a stray member would.
  const lock = lockDataDir(join(dataDir, 'n2'));
  const base = await freeKeelUpBase(3);
  const [gatewayPort, adminPort] = await freePorts(2);
  t.after(() => {
    lock.release();
    rmSync(dataDir, { recursive: true, force: true });
  });
  const up = run(['up', '--base-port', String(base), '--data-dir', dataDir, '--gateway-port', String(gatewayPort), '--admin-port', String(adminPort)]);
  assert.equal(await exitCodeWithin(up, 60_000), 1, up.stdout + up.stderr);
  assert.match(up.stderr, new RegExp(`n2 cannot run: .*in use by another process \\(pid ${process.pid}\\).*not restarting it`));
  assert.match(up.stderr, /stopping the rest rather than run a partial cluster/);
  assert.doesNotMatch(up.stdout, /n2 exited .* restarting in/);
  const final = JSON.parse(readFileSync(join(dataDir, 'cluster.json'), 'utf8')) as ClusterFile;
  assert.ok(final.members.every((member) => member.pid === null), 'every member was stopped');
  assert.match(final.members[1]!.failed ?? '', /in use by another process/);
});

test('a member refuses a data dir that is a file, in a sentence that names the path and the fix', { timeout: 30_000 }, async () => {
  const root = mkdtempSync(join(tmpdir(), 'keel-file-dir-'));
  try {
    const file = join(root, 'data');
    await import('node:fs').then((fs) => fs.writeFileSync(file, 'not a directory'));
    const [peer, client] = await freePorts(2);
    const args = ['--listen-peer', `127.0.0.1:${peer}`, '--listen-client', `127.0.0.1:${client}`, '--peers', `n1=127.0.0.1:${peer}`];
    const asFile = run(['node', '--id', 'n1', '--data-dir', file, ...args]);
    assert.equal(await exitCodeWithin(asFile, 20_000), EXIT_PERMANENT);
    assert.match(asFile.stderr, new RegExp(`keel node: ${file} is a file, not a directory; give --data-dir a directory`));
    const below = run(['node', '--id', 'n1', '--data-dir', join(file, 'sub'), ...args]);
    assert.equal(await exitCodeWithin(below, 20_000), EXIT_PERMANENT);
    assert.match(below.stderr, /a part of this path is a file, not a directory/);
    assert.doesNotMatch(asFile.stderr + below.stderr, /EEXIST|ENOTDIR|\n\s+at /);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('the data dir lock goes with its holder: after SIGKILL a new member starts on the same dir', { timeout: 60_000 }, async () => {
  const root = mkdtempSync(join(tmpdir(), 'keel-lock-kill-'));
  const dataDir = join(root, 'n1');
  const [peer, client] = await freePorts(2);
  const args = ['node', '--id', 'n1', '--data-dir', dataDir, '--listen-peer', `127.0.0.1:${peer}`, '--listen-client', `127.0.0.1:${client}`, '--peers', `n1=127.0.0.1:${peer}`];
  const ready = async (): Promise<boolean> => {
    try {
      return (await fetch(`http://127.0.0.1:${client}/readyz`, { signal: AbortSignal.timeout(1_000) })).ok;
    } catch {
      return false;
    }
  };
  const first = run(args);
  try {
    await eventually(ready, 30_000, 'the first member');
    first.child.kill('SIGKILL');
    await first.exited;
    const second = run(args);
    try {
      await eventually(ready, 30_000, 'the second member on the same dir');
    } finally {
      second.child.kill('SIGKILL');
      await second.exited;
    }
  } finally {
    first.child.kill('SIGKILL');
    rmSync(root, { recursive: true, force: true });
  }
});
