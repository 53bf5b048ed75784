import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readlinkSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { waitUntil } from '../../src/chaos/campaign/index.js';
import { createNetns, destroyNetns, inNetns, netnsUnavailableReason, planNetns, subnetInUse, type NetnsCluster } from '../../src/chaos/index.js';
import { agentLinks } from '../../src/load/agent.js';
import { runLoad } from '../../src/load/index.js';

// Issue 10's distributed load, with each agent a separate machine: two
// `keel load agent` processes, each in its own network namespace whose veth
// pair ends on a bridge in the root namespace (chaos's createNetns, the one
// `keel up --netns` uses; 198.18.0.0/15 only). The coordinator and the target
// stay in the root namespace, so the agents' requests cross the veths and the
// target sees them come from the agents' own addresses. Skipped without root,
// `ip netns` or nft (netnsUnavailableReason also asks for nft, which chaos's
// partitions need and this test does not).
const main = join(import.meta.dirname, '../../src/cli/main.ts');
const fixtures = join(import.meta.dirname, 'fixtures');
const skip = netnsUnavailableReason();
/** Each namespace is empty, so a fixed port is free in every one. */
const AGENT_PORT = 7070;
const DEADLINE_MS = 60_000;
/** Cluster names to try before giving up on a /24 no host interface holds (etcd-cluster.ts's search, fewer tries). */
const PLAN_ATTEMPTS_MAX = 16;
/** checks.ts's shared-iterations (KEEL_LOAD_TEST_ITERATIONS unset). */
const ITERATIONS = 20;

/** A plan named for this process, on a /24 no other run's bridge holds, so parallel runs never collide. */
function freePlan(): NetnsCluster {
  for (let attempt = 0; attempt < PLAN_ATTEMPTS_MAX; attempt++) {
    const plan = planNetns(`la${process.pid.toString(36)}x${attempt}`, ['a1', 'a2']);
    if (!subnetInUse(plan)) return plan;
  }
  throw new Error(`no free /24 in 198.18.0.0/16 after ${PLAN_ATTEMPTS_MAX} names`);
}

test('agents each in their own network namespace, as separate machines, run the shares of one scenario against a target in the root namespace', { skip: skip ?? false, timeout: 120_000 }, async (t) => {
  const plan = freePlan();
  const agents: { process: ChildProcess; exited: Promise<void> }[] = [];
  const sources = new Map<string, number>();
  const target = createServer((request, response) => {
    const source = request.socket.remoteAddress ?? 'unknown';
    sources.set(source, (sources.get(source) ?? 0) + 1);
    response.end('ok');
  });
  t.after(async () => {
    // The agents first: a namespace with a process still in it outlives `ip netns del`, and so would its veth.
    for (const agent of agents) agent.process.kill('SIGKILL');
    await Promise.race([Promise.all(agents.map((agent) => agent.exited)), new Promise((resolve) => setTimeout(resolve, 10_000).unref())]);
    destroyNetns(plan);
    target.closeAllConnections();
    await new Promise((resolve) => target.close(resolve));
  });
  createNetns(plan);
  // Only on the bridge's address: reachable from the namespaces, from nowhere else.
  await new Promise<void>((resolve, reject) => {
    target.once('error', reject);
    target.listen(0, plan.bridgeAddress, resolve);
  });
  const targetUrl = `http://${plan.bridgeAddress}:${(target.address() as { port: number }).port}/`;

  for (const member of plan.members) {
    const [command, ...args] = [...inNetns(member.netns), process.execPath, '--import', 'tsx', main, 'load', 'agent', '--listen', `${member.address}:${AGENT_PORT}`];
    const child = spawn(command!, args, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, KEEL_LOAD_TEST_TARGET: targetUrl } });
    let output = '';
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    let exited = false;
    const exit = new Promise<void>((resolve) =>
      child.once('exit', () => {
        exited = true;
        resolve();
      }),
    );
    agents.push({ process: child, exited: exit });
    await waitUntil(async () => exited || output.includes('listening'), DEADLINE_MS, `the agent in ${member.netns}`);
    assert.equal(exited, false, `the agent in ${member.netns} exited: ${output}`);
    // `ip netns exec` execs node: the pid kept (and killed in after) is the agent's, and it lives in the member's namespace.
    assert.equal(readlinkSync(`/proc/${child.pid}/ns/net`), `net:[${statSync(`/run/netns/${member.netns}`).ino}]`);
  }

  const links = await agentLinks(plan.members.map((member) => `${member.address}:${AGENT_PORT}`));
  const quiet = new Writable({ write: (_chunk, _encoding, done) => done() });
  const result = await runLoad({ scenarioFile: join(fixtures, 'checks.ts'), links, allowRemote: [plan.bridgeAddress], output: quiet, progress: false });

  t.diagnostic(`requests by source address: ${JSON.stringify(Object.fromEntries(sources))}`);
  assert.deepEqual([...sources.keys()].sort(), plan.members.map((member) => member.address).sort(), 'requests from both agents\' addresses, and from nowhere else');
  assert.equal([...sources.values()].reduce((sum, count) => sum + count, 0), ITERATIONS);
  assert.deepEqual(result.summary.lostWorkers, []);
  assert.equal(result.summary.counters.http_reqs?.count, ITERATIONS);
  assert.equal(result.summary.rates.http_req_failed?.trues, 0);
  assert.deepEqual(result.summary.errors, {});
  assert.equal(result.exitCode, 0);
});
