import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { ByteString } from '../../src/store/bytes.js';
import { KeyMap, shardOf } from '../../src/store/key-map.js';

const SHARDS = 256;

const key = fc.oneof(
  fc.string({ unit: fc.constantFrom('\0', 'a', 'b', '\xff'), maxLength: 5 }),
  // Long keys take the head-and-tail hash.
  fc.string({ unit: fc.constantFrom('a', 'b'), minLength: 60, maxLength: 140 }),
).map((text) => text as ByteString);
const action = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), key, value: fc.nat() }),
  fc.record({ kind: fc.constant('delete' as const), key }),
  fc.record({ kind: fc.constant('get' as const), key }),
);

test('KeyMap behaves as a Map under sets, deletes and gets', () => {
  fc.assert(
    fc.property(fc.array(action, { maxLength: 1000 }), (actions) => {
      const reference = new Map<ByteString, number>();
      const map = new KeyMap<number>();
      for (const step of actions) {
        if (step.kind === 'set') {
          reference.set(step.key, step.value);
          map.set(step.key, step.value);
        } else if (step.kind === 'delete') {
          assert.equal(map.delete(step.key), reference.delete(step.key));
        } else {
          assert.equal(map.get(step.key), reference.get(step.key));
          assert.equal(map.has(step.key), reference.has(step.key));
        }
        assert.equal(map.size, reference.size);
      }
    }),
  );
});

/** The fullest shard's count over the mean: 1 is a perfect spread. */
function worstOverMean(keys: readonly string[]): number {
  const counts = new Array<number>(SHARDS).fill(0);
  for (const each of keys) {
    const shard = shardOf(each);
    assert.ok(Number.isInteger(shard) && shard >= 0 && shard < SHARDS, `shard ${shard} of ${each}`);
    counts[shard]!++;
  }
  return Math.max(...counts) / (keys.length / SHARDS);
}

test('shardOf spreads the key shapes a store holds over every shard', () => {
  // The point of the split is that no shard grows much bigger than 1/256th
  // of the keys; 1.3x the mean allows for chance at 256 keys per shard.
  const count = 65_536;
  const shapes: Record<string, (i: number) => string> = {
    'numbered (bench/scale)': (i) => `scale/b/${String(i % 64).padStart(4, '0')}/${String(i).padStart(9, '0')}`,
    'kubernetes-like paths': (i) => `/registry/pods/namespace-${i % 97}/pod-${i.toString(36)}`,
    'dense binary': (i) => String.fromCharCode(i >>> 8, i & 0xff),
    'long, numbered at the end': (i) => `${'x'.repeat(300)}/${i}`,
    'long, numbered at the start': (i) => `${i}/${'x'.repeat(300)}`,
  };
  for (const [shape, keyOf] of Object.entries(shapes)) {
    const keys = Array.from({ length: count }, (_, i) => keyOf(i));
    const ratio = worstOverMean(keys);
    assert.ok(ratio < 1.3, `${shape}: the fullest shard holds ${ratio.toFixed(2)}x the mean`);
  }
});

test('shardOf of a long key reads only its head, its tail and its length', () => {
  const middle = (fill: string): string => `head-16-chars---${fill.repeat(200)}${'t'.repeat(48)}`;
  assert.equal(shardOf(middle('a')), shardOf(middle('b')));
  // The tail and the length do count.
  assert.notEqual(shardOf(`${middle('a')}1`), shardOf(`${middle('a')}2`));
});
