import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultNemesisFaults, keelUpTarget, waitUntil } from '../../../src/chaos/campaign/index.js';
import { shortRun } from './short-run.js';
import { createChaos, readClusterView } from '../../../src/chaos/index.js';
import { destroyNetns, netnsUnavailableReason, planNetns } from '../../../src/chaos/netns.js';

// The Jepsen-style short run with network faults: keel up --netns puts each
// member in its own namespace on a bridge (198.18.0.0/15 only), and the
// nemesis adds partitions (isolate the leader, isolate a follower, bridge)
// to kills and pauses. Skipped without root or `ip netns`.
const bin = join(import.meta.dirname, '../../../dist/src/cli/main.js');
const skip = netnsUnavailableReason();
const seed = Number(process.env.KEEL_JEPSEN_SEED ?? 1 + Math.floor(Math.random() * 1_000_000));

test(`keel under partitions, kills and pauses in network namespaces stays linearizable and recovers (seed ${seed})`, { skip: skip ?? false, timeout: 300_000 }, async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'keel-jepsen-netns-'));
  const dataDir = join(root, 'cluster');
  // The test names the cluster, so it knows every namespace, veth and bridge keel up makes and removes them whatever happens.
  const clusterName = `keel-jn${randomBytes(3).toString('hex')}`;
  await import('node:fs').then((fs) => fs.mkdirSync(dataDir));
  writeFileSync(join(dataDir, 'cluster.json'), JSON.stringify({ clusterName }));
  const network = planNetns(clusterName, ['n1', 'n2', 'n3']);
  const up = spawn(process.execPath, [bin, 'up', '--netns', '--no-gateway', '--no-dashboard', '--quiet', '--data-dir', dataDir], { stdio: ['ignore', 'ignore', 'pipe'] });
  const exited = new Promise((resolve) => up.once('exit', resolve));
  const stateDir = join(root, 'chaos-state');
  t.after(async () => {
    await createChaos({ stateDir }).heal();
    up.kill('SIGTERM');
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 15_000))]);
    up.kill('SIGKILL');
    destroyNetns(network);
    rmSync(root, { recursive: true, force: true });
  });
  await waitUntil(async () => {
    try {
      return readClusterView(dataDir).members.filter((member) => member.netns !== undefined).length === 3;
    } catch {
      return false;
    }
  }, 60_000, 'cluster.json with members in namespaces');
  assert.ok(readClusterView(dataDir).members.every((member) => member.address!.startsWith('198.18.')));
  const target = keelUpTarget(dataDir, { stateDir, seed });
  await target.waitHealthy(60_000);

  const report = await shortRun(t, target, { seed, runMs: 20_000, faults: defaultNemesisFaults(true), historyFile: join(root, 'history.jsonl') });
  assert.ok(report.faults.some((fault) => fault.injected && (fault.fault.includes('isolate') || fault.fault === 'bridge')), 'a partition was injected');
});
