import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitUntil } from '../../src/chaos/campaign/index.js';
import { findLeader, netnsUnavailableReason } from '../../src/chaos/index.js';
import { openCluster } from '../../src/experiment/cluster.js';
import { ETCD_BINARY_DEFAULT } from '../../src/experiment/etcd-cluster.js';

// An etcd control run's cluster in network namespaces (3 real etcd 3.4
// members, each in its own namespace on a bridge, 198.18.0.0/15 only): the
// view names each member's namespace and address, the pid is etcd's and
// lives in that namespace, keel chaos's isolate-leader cuts the leader off
// (it stops serving, the two others keep a leader), and stopping the
// cluster removes every namespace. Skipped without root, `ip netns`, nft or
// etcd.
const etcd = process.env['ETCD_BIN'] ?? ETCD_BINARY_DEFAULT;
const skip = netnsUnavailableReason() ?? (existsSync(etcd) ? undefined : `etcd is not installed at ${etcd}`);
const DEADLINE_MS = 30_000;

const namespaces = (): string[] => spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout.split('\n').map((line) => line.split(' ')[0]!);

test('etcd in namespaces: members on 198.18.x.y, isolate-leader hits etcd, stop removes the namespaces', { skip: skip ?? false, timeout: 120_000 }, async (t) => {
  const workDir = mkdtempSync(join(tmpdir(), 'keel-etcd-netns-'));
  const cluster = await openCluster({ kind: 'etcd', members: 3, netns: true, gateway: false }, { stateDir: join(workDir, 'chaos-state'), seed: 1, workDir });
  let stopped = false;
  t.after(async () => {
    if (!stopped) await cluster.stop();
    rmSync(workDir, { recursive: true, force: true });
  });

  const view = cluster.view();
  for (const member of view.members) {
    assert.match(member.address ?? '', /^198\.1[89]\.\d+\.\d+$/, member.id);
    assert.equal(new URL(member.clientUrl).hostname, member.address);
    assert.ok(member.netns !== undefined && namespaces().includes(member.netns), `${member.id}: namespace ${member.netns} exists`);
    // `ip netns exec` execs etcd: the pid keel chaos signals is etcd's, inside the member's namespace.
    assert.equal(readFileSync(`/proc/${member.pid}/comm`, 'utf8').trim(), 'etcd');
    assert.equal(readlinkSync(`/proc/${member.pid}/ns/net`), `net:[${statSync(`/run/netns/${member.netns}`).ino}]`);
  }

  const leader = await findLeader(view);
  const fault = await cluster.chaos().inject({ kind: 'partition', shape: 'isolate-leader', durationMs: DEADLINE_MS });
  const others = view.members.filter((member) => member.id !== leader.id);
  // etcd 3.4's /health is false without a leader: the cut-off leader steps down (check-quorum), the two others elect.
  await waitUntil(async () => !(await cluster.isReady(leader.clientUrl)) && (await Promise.all(others.map((member) => cluster.isReady(member.clientUrl)))).every(Boolean), DEADLINE_MS, 'the isolated leader to stop serving and the others to serve');
  assert.notEqual((await findLeader({ members: others })).id, leader.id);
  await fault.heal();
  await cluster.waitReady(DEADLINE_MS);

  const names = view.members.map((member) => member.netns!);
  await cluster.stop();
  stopped = true;
  assert.deepEqual(names.filter((name) => namespaces().includes(name)), [], 'no namespace left');
});
