import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createChaos, findLeader, readClusterView } from '../../src/chaos/index.js';
import { isStopped } from '../../src/chaos/process-identity.js';
import { get, put } from '../node/cluster-harness.js';
import { stateDir, until } from './fixtures/helpers.js';
import { startKeelUp } from './fixtures/keel-up.js';

const DEADLINE_MS = 60_000;

async function leaderId(urls: readonly string[]): Promise<string | undefined> {
  const answers = await Promise.all(
    urls.map((url) =>
      fetch(`${url}/v3/maintenance/status`, { method: 'POST', body: '{}', signal: AbortSignal.timeout(1_000) })
        .then((r) => r.json() as Promise<{ leader?: string }>)
        .then((body) => body.leader, () => undefined),
    ),
  );
  return answers.every((leader) => leader !== undefined && leader !== '0' && leader === answers[0]) ? answers[0] : undefined;
}

test('on a keel up cluster: pausing the leader elects another until the lease resumes it; restart leader is SIGKILL and keel up\'s restart', { timeout: 240_000 }, async (t) => {
  const { dataDir, urls, output } = await startKeelUp(t, { nodes: 3 });
  await until(async () => (await leaderId(urls)) !== undefined, DEADLINE_MS, `a leader (${output()})`);
  const chaos = createChaos({ dataDir, stateDir: stateDir(t), seed: 3 });

  const oldLeader = await findLeader(readClusterView(dataDir));
  const pause = await chaos.inject({ kind: 'pause', target: 'leader', durationMs: 8_000 });
  assert.match(pause.description, new RegExp(`pause ${oldLeader.id} \\(leader\\)`));
  const others = readClusterView(dataDir).members.filter((member) => member.id !== oldLeader.id).map((member) => member.clientUrl);
  const oldLeaderId = await fetch(`${others[0]}/v3/maintenance/status`, { method: 'POST', body: '{}' }).then((r) => r.json() as Promise<{ leader: string }>).then((body) => body.leader);
  await until(async () => {
    const leader = await leaderId(others);
    return leader !== undefined && leader !== oldLeaderId;
  }, DEADLINE_MS, 'the other two to elect a new leader while the old one is paused');
  // The lease ends: the watchdog resumes the old leader, which rejoins as a follower.
  await until(() => !isStopped(oldLeader.pid!), DEADLINE_MS, 'the lease to resume the paused leader');
  await until(async () => (await leaderId(urls)) !== undefined, DEADLINE_MS, 'all three to agree on a leader');

  const restartTarget = await findLeader(readClusterView(dataDir));
  const restart = await chaos.inject({ kind: 'restart', target: 'leader' });
  assert.ok(restart.outcomes.some((line) => line.startsWith(`${restartTarget.id} (leader): restarted by keel up as pid`)), restart.outcomes.join('\n'));
  await until(async () => (await leaderId(urls)) !== undefined, DEADLINE_MS, 'a leader all three agree on after the restart');
  const leaderUrl = (await findLeader(readClusterView(dataDir))).clientUrl;
  await put(leaderUrl, 'chaos/after-restart', 'ok');
  await until(async () => (await Promise.all(urls.map((url) => get(url, 'chaos/after-restart', { serializable: true }).then((r) => r.value, () => undefined)))).every((value) => value === 'ok'), DEADLINE_MS, 'every member to hold the write');
});
