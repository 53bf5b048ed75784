import { test } from 'node:test';
import assert from 'node:assert/strict';
import { seededRandom } from '../../src/resilience/index.js';
import type { ClusterView } from '../../src/chaos/index.js';
import { grudgeOf, perLinkCommands, qdiscArguments, type PartitionShape } from '../../src/chaos/network-faults.js';
import { FaultStore } from '../../src/chaos/state.js';
import { stateDir } from './fixtures/helpers.js';

// Jepsen's partition shapes as grudges (member -> members whose packets it drops), on 3 and 5 members.
function view(size: number): ClusterView {
  return { members: Array.from({ length: size }, (_, index) => ({ id: `n${index + 1}`, zone: 'a', clientUrl: 'http://127.0.0.1:9', pid: null, netns: `keel-x-n${index + 1}`, address: `198.18.0.${index + 1}` })) };
}

async function grudge(shape: PartitionShape, size: number, dir: string, target?: string): Promise<Map<string, Set<string>>> {
  const cluster = view(size);
  return grudgeOf({ kind: 'partition', shape, durationMs: 1_000, ...(target ? { target } : {}) }, cluster.members, { view: cluster, random: seededRandom(7), store: new FaultStore(dir), id: 'kc00000000' });
}

/** Members each member still hears (itself included). */
function hears(g: Map<string, Set<string>>, size: number): Map<string, number> {
  return new Map([...g].map(([id, drops]) => [id, size - drops.size]));
}

test('partition shapes: isolate, one-way, all, halves, bridge, majorities-ring', async (t) => {
  const dir = stateDir(t);
  const isolate = await grudge('isolate', 3, dir, 'n2');
  assert.deepEqual([...isolate].map(([id, drops]) => [id, [...drops].sort()]), [['n1', ['n2']], ['n2', ['n1', 'n3']], ['n3', ['n2']]]);

  const oneWay = await grudge('one-way', 3, dir, 'n1');
  assert.deepEqual([...oneWay].map(([id, drops]) => [id, [...drops].sort()]), [['n1', ['n2', 'n3']], ['n2', []], ['n3', []]]);

  const halves = hears(await grudge('halves', 5, dir), 5);
  assert.deepEqual([...halves.values()].sort(), [2, 2, 3, 3, 3]);

  // All: no member hears another (with lossPercent, every link is lossy instead).
  const all = await grudge('all', 3, dir);
  assert.deepEqual([...all].map(([id, drops]) => [id, [...drops].sort()]), [['n1', ['n2', 'n3']], ['n2', ['n1', 'n3']], ['n3', ['n1', 'n2']]]);

  // Bridge: one member hears everyone; the others hear their half and the bridge.
  const bridge = hears(await grudge('bridge', 5, dir), 5);
  assert.deepEqual([...bridge.values()].sort(), [3, 3, 3, 3, 5]);

  // Majorities ring: every member hears a majority, and no two hear the same one.
  for (const size of [3, 5]) {
    const ring = await grudge('majorities-ring', size, dir);
    const majority = Math.floor(size / 2) + 1;
    assert.ok([...hears(ring, size).values()].every((count) => count === majority), `each of ${size} hears exactly a majority`);
    const sets = [...ring].map(([id, drops]) => view(size).members.map((m) => m.id).filter((other) => !drops.has(other)).join(',') + `@${id}`);
    assert.equal(new Set(sets.map((entry) => entry.split('@')[0])).size, size, 'distinct majorities');
  }
});

test('link fault arguments: tbf for a bare cap, netem otherwise; a per-link fault is an htb root, a capped class holding netem, and a u32 filter per destination', () => {
  assert.deepEqual(qdiscArguments({ kind: 'netem', target: 'n1', durationMs: 1, rateKbit: 800 }), ['tbf', 'rate', '800kbit', 'burst', '32kbit', 'latency', '400ms']);
  assert.deepEqual(qdiscArguments({ kind: 'netem', target: 'n1', durationMs: 1, delayMs: 50, jitterMs: 10, lossPercent: 2, rateKbit: 800 }), ['netem', 'delay', '50ms', '10ms', 'loss', '2%', 'rate', '800kbit']);
  const tc = ['ip', 'netns', 'exec', 'ns1', 'tc'];
  const commands = perLinkCommands(tc, ['198.18.0.2', '198.18.0.3'], { kind: 'netem', target: 'n1', to: 'follower', durationMs: 1, delayMs: 50, rateKbit: 800 });
  assert.deepEqual(commands.map((argv) => argv.slice(tc.length).join(' ')), [
    'qdisc add dev eth0 root handle 4b43: htb default 1',
    'class add dev eth0 parent 4b43: classid 4b43:1 htb rate 100gbit quantum 60000',
    'class add dev eth0 parent 4b43: classid 4b43:2 htb rate 800kbit ceil 800kbit burst 4kb',
    'qdisc add dev eth0 parent 4b43:2 handle 4b44: netem delay 50ms',
    'filter add dev eth0 parent 4b43: protocol ip prio 1 u32 match ip dst 198.18.0.2/32 flowid 4b43:2',
    'filter add dev eth0 parent 4b43: protocol ip prio 1 u32 match ip dst 198.18.0.3/32 flowid 4b43:2',
  ]);
  // Without a cap the class shapes nothing and only netem acts.
  assert.ok(perLinkCommands(tc, ['198.18.0.2'], { kind: 'netem', target: 'n1', durationMs: 1, lossPercent: 5 }).some((argv) => argv.join(' ').endsWith('classid 4b43:2 htb rate 100gbit ceil 100gbit quantum 60000')));
  assert.throws(() => perLinkCommands(tc, ['198.18.0.2'], { kind: 'netem', target: 'n1', durationMs: 1 }), { code: 'KEEL_CHAOS_INVALID_FAULT' });
});
