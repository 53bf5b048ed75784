import { test } from 'node:test';
import assert from 'node:assert/strict';
import { seededRandom } from '../../src/resilience/index.js';
import type { ClusterView } from '../../src/chaos/index.js';
import { grudgeOf, type PartitionShape } from '../../src/chaos/network-faults.js';
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

test('partition shapes: isolate, one-way, halves, bridge, majorities-ring', async (t) => {
  const dir = stateDir(t);
  const isolate = await grudge('isolate', 3, dir, 'n2');
  assert.deepEqual([...isolate].map(([id, drops]) => [id, [...drops].sort()]), [['n1', ['n2']], ['n2', ['n1', 'n3']], ['n3', ['n2']]]);

  const oneWay = await grudge('one-way', 3, dir, 'n1');
  assert.deepEqual([...oneWay].map(([id, drops]) => [id, [...drops].sort()]), [['n1', ['n2', 'n3']], ['n2', []], ['n3', []]]);

  const halves = hears(await grudge('halves', 5, dir), 5);
  assert.deepEqual([...halves.values()].sort(), [2, 2, 3, 3, 3]);

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
