import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createChaos, readClusterView, type ClusterView } from '../../src/chaos/index.js';
import { destroyNetns, netnsUnavailableReason, planNetns } from '../../src/chaos/netns.js';
import { get, put } from '../node/cluster-harness.js';
import { stateDir, until } from './fixtures/helpers.js';

// A 3-member keel up cluster, each member in its own namespace on a bridge
// (198.18.0.0/15 addresses only). Skipped without root or `ip netns`.
const bin = join(import.meta.dirname, '../../dist/src/cli/main.js');
const skip = netnsUnavailableReason();
const DEADLINE_MS = 60_000;

interface Status {
  memberId: string;
  leader: string;
}

async function statusOf(url: string): Promise<Status | undefined> {
  try {
    const response = await fetch(`${url}/v3/maintenance/status`, { method: 'POST', body: '{}', signal: AbortSignal.timeout(1_000) });
    const body = (await response.json()) as { leader?: string; header?: { member_id?: string } };
    return { memberId: String(body.header?.member_id), leader: String(body.leader ?? '0') };
  } catch {
    return undefined;
  }
}

function tablesIn(netns: string): string {
  return spawnSync('ip', ['netns', 'exec', netns, 'nft', 'list', 'tables'], { encoding: 'utf8' }).stdout;
}

/**
 * `nft list ruleset` in the namespace. Once, in a fresh-clone CI run with a
 * busy loop on one core, it printed nothing right after `nft list tables`
 * had shown keel chaos's table: an empty listing (or a failed nft) is read
 * again, a few times, and what nft said goes into the failure message.
 */
async function rulesetIn(netns: string): Promise<{ rules: string; said: string }> {
  let said = '';
  for (let attempt = 1; attempt <= 5; attempt++) {
    const listed = spawnSync('ip', ['netns', 'exec', netns, 'nft', 'list', 'ruleset'], { encoding: 'utf8' });
    if (listed.status === 0 && listed.stdout.trim() !== '') return { rules: listed.stdout, said };
    said += `attempt ${attempt}: status ${listed.status}, stderr ${JSON.stringify(listed.stderr)}\n`;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return { rules: '', said };
}

test('keel up --netns: isolating the leader elects a new one among the others; healed, all three converge; a SIGKILLed controller\'s partition heals by its lease', { skip: skip ?? false, timeout: 300_000 }, async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'keel-chaos-netns-'));
  // The test names the cluster, so it knows every namespace, veth and bridge up will create, and removes them by those names whatever happens.
  const clusterName = `keel-ct${randomBytes(3).toString('hex')}`;
  writeFileSync(join(dataDir, 'cluster.json'), JSON.stringify({ clusterName }));
  const network = planNetns(clusterName, ['n1', 'n2', 'n3']);
  const up = spawn(process.execPath, [bin, 'up', '--netns', '--no-gateway', '--data-dir', dataDir], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  up.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  up.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise((resolve) => up.once('exit', resolve));
  const states = stateDir(t);
  t.after(async () => {
    await createChaos({ stateDir: states }).heal();
    up.kill('SIGTERM');
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 15_000))]);
    up.kill('SIGKILL');
    destroyNetns(network);
    rmSync(dataDir, { recursive: true, force: true });
  });

  let view: ClusterView | undefined;
  await until(() => {
    try {
      view = readClusterView(dataDir);
      return view.members.length === 3 && view.members.every((member) => member.netns !== undefined);
    } catch {
      return false;
    }
  }, DEADLINE_MS, `cluster.json with members in namespaces (${output})`);
  const urls = view!.members.map((member) => member.clientUrl);
  assert.ok(view!.members.every((member) => member.address!.startsWith('198.18.')), 'addresses from 198.18.0.0/15 only');
  await until(async () => (await Promise.all(urls.map((url) => fetch(`${url}/readyz`).then((r) => r.ok, () => false)))).every(Boolean), DEADLINE_MS, 'every member ready');
  await until(async () => {
    const statuses = await Promise.all(urls.map(statusOf));
    return statuses.every((status) => status && status.leader !== '0' && status.leader === statuses[0]!.leader);
  }, DEADLINE_MS, 'one leader all agree on');

  const chaos = createChaos({ dataDir, stateDir: states, seed: 1 });
  const before = (await statusOf(urls[0]!))!.leader;
  const fault = await chaos.inject({ kind: 'partition', shape: 'isolate-leader', durationMs: 120_000 });
  t.diagnostic(fault.description);
  const oldLeaderUrl = (await Promise.all(urls.map(async (url) => ((await statusOf(url))?.memberId === before ? url : undefined)))).find(Boolean)!;
  const others = urls.filter((url) => url !== oldLeaderUrl);
  await until(async () => {
    const statuses = await Promise.all(others.map(statusOf));
    return statuses.every((status) => status && status.leader !== '0' && status.leader !== before && status.leader === statuses[0]!.leader);
  }, DEADLINE_MS, 'a new leader among the other two');
  const newLeader = (await statusOf(others[0]!))!.leader;
  assert.ok([(await statusOf(others[0]!))!.memberId, (await statusOf(others[1]!))!.memberId].includes(newLeader));

  await fault.heal();
  assert.equal(tablesIn(view!.members[0]!.netns!).includes('keelchaos_'), false);
  await until(async () => {
    const statuses = await Promise.all(urls.map(statusOf));
    return statuses.every((status) => status && status.leader !== '0' && status.leader === statuses[0]!.leader);
  }, DEADLINE_MS, 'all three to agree on a leader again');
  const leaderUrl = (await Promise.all(urls.map(async (url) => ((await statusOf(url))?.memberId === (await statusOf(url))?.leader ? url : undefined)))).find(Boolean)!;
  await put(leaderUrl, 'chaos/converged', 'yes');
  await until(async () => (await Promise.all(urls.map((url) => get(url, 'chaos/converged', { serializable: true }).then((r) => r.value, () => undefined)))).every((value) => value === 'yes'), DEADLINE_MS, 'every member to hold the write');

  // A controller SIGKILLed mid-partition: the watchdog removes the rules when the lease ends.
  const controller = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'fixtures/pause-controller.ts'), states, JSON.stringify({ kind: 'partition', shape: 'halves', durationMs: 3_000 }), dataDir], { stdio: ['ignore', 'pipe', 'inherit'] });
  let said = '';
  controller.stdout.on('data', (chunk: Buffer) => (said += chunk.toString()));
  await until(() => said.includes('injected'), DEADLINE_MS, 'the controller to partition');
  controller.kill('SIGKILL');
  assert.ok(view!.members.some((member) => tablesIn(member.netns!).includes('keelchaos_')), 'rules in place');
  await until(() => view!.members.every((member) => !tablesIn(member.netns!).includes('keelchaos_')), DEADLINE_MS, 'the watchdog to remove the partition');
  // The watchdog drops the controller's fault record just after the rules; on a busy machine that is a moment later.
  await until(() => chaos.active().length === 0, DEADLINE_MS, 'the watchdog to drop the dead controller\'s fault record');

  // Link faults: a bandwidth cap (tbf) is added with keel chaos's handle and removed on heal; netem where the kernel has it.
  const capped = await chaos.inject({ kind: 'netem', target: 'n1', rateKbit: 1_000, durationMs: 60_000 });
  const qdiscs = (): string => spawnSync('ip', ['netns', 'exec', view!.members[0]!.netns!, 'tc', 'qdisc', 'show', 'dev', 'eth0'], { encoding: 'utf8' }).stdout;
  assert.match(qdiscs(), /qdisc tbf 4b43: root/);
  await capped.heal();
  assert.doesNotMatch(qdiscs(), /4b43:/);
  try {
    const delayed = await chaos.inject({ kind: 'netem', target: 'n2', delayMs: 50, lossPercent: 1, durationMs: 60_000 });
    await delayed.heal();
  } catch (error) {
    assert.equal((error as { code?: string }).code, 'KEEL_CHAOS_COMMAND_FAILED');
    t.diagnostic(`netem not in this kernel: ${(error as Error).message}`);
  }
  assert.equal(chaos.active().length, 0);

  // A per-link fault: only n1 -> n2 is capped (an htb class and a u32 filter on n2's address); n1 -> n3 is not.
  const [n1, n2, n3] = view!.members;
  const link = await chaos.inject({ kind: 'netem', target: 'n1', to: 'n2', rateKbit: 400, durationMs: 120_000 });
  t.diagnostic(link.description);
  const filters = spawnSync('ip', ['netns', 'exec', n1!.netns!, 'tc', 'filter', 'show', 'dev', 'eth0'], { encoding: 'utf8' }).stdout;
  assert.match(filters, new RegExp(`match ${hexAddress(n2!.address!)}/ffffffff at 16`));
  assert.doesNotMatch(filters, new RegExp(hexAddress(n3!.address!)));
  const toN3 = uploadMs(n1!.netns!, n3!.clientUrl);
  const toN2 = uploadMs(n1!.netns!, n2!.clientUrl);
  t.diagnostic(`a ${UPLOAD_BYTES}-byte put from n1's namespace: ${toN2} ms to n2 (capped link), ${toN3} ms to n3`);
  // 400 kbit/s moves the request's ~171 KB in about 3.4 s: a lower bound only, and the other link is not held to it.
  // Once in a CI run on a loaded machine the capped put took 396 ms (the cap not applied?): the class and filter
  // counters say whether its bytes went through the capped class, for whoever meets it next.
  const tcStats = (): string =>
    ['class', 'filter'].map((what) => spawnSync('ip', ['netns', 'exec', n1!.netns!, 'tc', '-s', what, 'show', 'dev', 'eth0'], { encoding: 'utf8' }).stdout).join('\n');
  assert.ok(toN2 >= 1_500, `the capped link took ${toN2} ms; tc on n1:\n${toN2 >= 1_500 ? '' : tcStats()}`);
  assert.ok(toN3 < toN2 / 2, `the link to n3 is not capped: ${toN3} ms against ${toN2} ms`);
  await link.heal();
  assert.doesNotMatch(qdiscs(), /4b43:/);
  await assert.rejects(chaos.inject({ kind: 'netem', target: 'n1', to: 'n1', rateKbit: 400, durationMs: 60_000 }), { code: 'KEEL_CHAOS_INVALID_FAULT' });
  assert.equal(chaos.active().length, 0);

  // A lossy partition (nft numgen, no netem needed): n3 loses a fifth of what n1 and n2 send it, and a fifth of
  // its packets to them are lost too, yet TCP carries a write through to it, where a full cut would not.
  for (const bad of [0, 101, 2.5]) {
    await assert.rejects(chaos.inject({ kind: 'partition', shape: 'isolate', target: 'n3', lossPercent: bad, durationMs: 60_000 }), { code: 'KEEL_CHAOS_INVALID_FAULT' });
  }
  const lossy = await chaos.inject({ kind: 'partition', shape: 'isolate', target: 'n3', lossPercent: 20, durationMs: 120_000 });
  t.diagnostic(lossy.description);
  assert.match(tablesIn(n3!.netns!), /keelchaos_/);
  const { rules, said: nftSaid } = await rulesetIn(n3!.netns!);
  assert.match(rules, /numgen random mod 100 < 20 drop/, `nft list ruleset in n3's namespace:\n${rules}\n${nftSaid}`);
  // Any member takes the write (a follower forwards it); n1 is not the one losing packets.
  await until(async () => put(n1!.clientUrl, 'chaos/lossy', 'through').then(() => true, () => false), DEADLINE_MS, 'a write under a lossy partition');
  await until(async () => (await get(n3!.clientUrl, 'chaos/lossy', { serializable: true }).then((r) => r.value, () => undefined)) === 'through', DEADLINE_MS, 'the write to reach n3 through the lossy links');
  await lossy.heal();
  assert.doesNotMatch(tablesIn(n3!.netns!), /keelchaos_/);
  assert.equal(chaos.active().length, 0);
});

/** The size of the value each timed put carries (JSON base64 makes the request about a third larger). */
const UPLOAD_BYTES = 128 * 1024;

/** How long a put of UPLOAD_BYTES takes from inside `netns` to the member at `url`, in ms (measured in that namespace). */
function uploadMs(netns: string, url: string): number {
  const script = `const value = Buffer.alloc(${UPLOAD_BYTES}, 7).toString('base64');
const started = performance.now();
fetch(${JSON.stringify(`${url}/v3/kv/put`)}, { method: 'POST', body: JSON.stringify({ key: Buffer.from('chaos/link').toString('base64'), value }), signal: AbortSignal.timeout(50000) })
  .then(async (response) => { await response.text(); if (!response.ok) throw new Error('status ' + response.status); console.log(Math.round(performance.now() - started)); })
  .catch((error) => { console.error(error.message); process.exit(1); });`;
  const run = spawnSync('ip', ['netns', 'exec', netns, process.execPath, '-e', script], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(run.status, 0, `the timed put failed: ${run.stderr}`);
  return Number(run.stdout.trim());
}

/** An IPv4 address as tc's u32 filter lists it (c6120102 for 198.18.1.2). */
function hexAddress(address: string): string {
  return address.split('.').map((part) => Number(part).toString(16).padStart(2, '0')).join('');
}
