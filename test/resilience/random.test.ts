import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SeededRandom, seededRandom, systemRandom } from '../../src/resilience/random.js';

test('the same seed gives the same sequence; different seeds differ', () => {
  const a = seededRandom(42);
  const b = seededRandom(42);
  const c = seededRandom(43);
  const seqA = Array.from({ length: 10 }, () => a.next());
  const seqB = Array.from({ length: 10 }, () => b.next());
  const seqC = Array.from({ length: 10 }, () => c.next());
  assert.deepEqual(seqA, seqB);
  assert.notDeepEqual(seqA, seqC);
});

test('draws are in [0, 1) and roughly uniform', () => {
  const random = new SeededRandom(7);
  const buckets = new Array<number>(10).fill(0);
  for (let i = 0; i < 100_000; i++) {
    const value = random.next();
    assert.ok(value >= 0 && value < 1);
    buckets[Math.floor(value * 10)]! += 1;
  }
  for (const count of buckets) assert.ok(count > 9_500 && count < 10_500, `bucket count ${count}`);
});

test('a non-integer seed is a config error; systemRandom draws in [0, 1)', () => {
  assert.throws(() => new SeededRandom(1.5), { code: 'KEEL_RES_CONFIG_INVALID' });
  const value = systemRandom.next();
  assert.ok(value >= 0 && value < 1);
});
