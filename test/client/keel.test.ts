import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KeelClient } from '../../src/client/index.js';
import { type Cluster, sleep } from '../node/cluster-harness.js';
import { useClusterAndClient } from './cluster-client.js';

// The client SDK against a real keel cluster (real processes): leader
// discovery, reads and writes, compare-and-swap, and carrying on when the
// leader is killed with SIGKILL.
let cluster: Cluster;
let client: KeelClient;

useClusterAndClient((started, made) => {
  cluster = started;
  client = made;
});

test('the SDK reads and writes through keel and finds the leader', async () => {
  await client.put('sdk/a', 'one');
  assert.equal((await client.get('sdk/a'))?.value.toString(), 'one');
  const swapped = await client.compareAndSwap('sdk/a', 'one', 'two');
  assert.equal(swapped.succeeded, true);
  const stale = await client.compareAndSwap('sdk/a', 'one', 'three');
  assert.equal(stale.succeeded, false);
  const range = await client.range('sdk/', { prefix: true });
  assert.equal(range.kvs.length, 1);
  const leader = await cluster.leader();
  await client.status();
  await sleep(1_200); // leader discovery runs in the background, at most once a second
  await client.get('sdk/a');
  assert.equal(client.leader, leader.clientUrl);
});

test('the SDK carries on after the leader is killed, and every acknowledged write survives', async () => {
  const acknowledged = new Map<string, string>();
  let failures = 0;
  const leader = await cluster.leader();
  let killed = false;
  for (let i = 0; i < 400; i++) {
    if (i === 100) {
      await cluster.kill(leader.id, 'SIGKILL');
      killed = true;
    }
    try {
      await client.put(`sdk/kill/${i}`, `v${i}`);
      acknowledged.set(`sdk/kill/${i}`, `v${i}`);
    } catch (error) {
      failures++;
      assert.equal((error as { mayHaveApplied?: boolean }).mayHaveApplied !== undefined, true);
    }
  }
  assert.ok(killed);
  assert.ok(failures <= 10, `${failures} failed writes around one leader failure`);
  assert.ok(acknowledged.size >= 390);
  cluster.launch(leader.id);
  await cluster.waitReady();
  const all = await client.range('sdk/kill/', { prefix: true });
  const state = new Map(all.kvs.map((kv) => [kv.key.toString(), kv.value.toString()]));
  for (const [key, value] of acknowledged) assert.equal(state.get(key), value, `${key} lost`);
});
