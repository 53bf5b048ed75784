import assert from 'node:assert/strict';
import { it } from 'node:test';
import { SnapshotEncoder } from '../../src/store/index.js';
import { bytes, Harness } from './helpers.js';

function concat(chunks: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((sum, chunk) => sum + chunk.length, 0));
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}

function filled(): Harness {
  const store = new Harness();
  store.ok({ type: 'leaseGrant', request: { id: 7n, ttlSeconds: 30 } });
  for (let i = 0; i < 200; i++) store.ok({ type: 'put', request: { key: bytes(`k${i % 50}`), value: new Uint8Array(i * 13).fill(i), lease: i % 7 === 0 ? 7n : 0n } });
  store.ok({ type: 'deleteRange', request: { key: bytes('k3') } });
  store.ok({ type: 'put', request: { key: bytes('big'), value: new Uint8Array(40_000).fill(9) } });
  return store;
}

it('the encoder’s chunks, concatenated, are byte for byte the snapshot, at any chunk size', () => {
  const store = filled();
  const whole = store.machine.snapshot();
  for (const chunkBytes of [1, 100, 4096, 1 << 20, Number.POSITIVE_INFINITY]) {
    const encoder = new SnapshotEncoder(store.machine.captureSnapshot());
    const chunks: Uint8Array[] = [];
    for (let chunk = encoder.next(chunkBytes); chunk !== undefined; chunk = encoder.next(chunkBytes)) chunks.push(chunk.slice());
    assert.deepEqual(concat(chunks), whole, `chunk size ${chunkBytes}`);
    if (chunkBytes === 100) assert.ok(chunks.length > 10, 'small chunks split the records');
  }
});

it('a captured state stays as it was while the store applies, compacts and deletes', () => {
  const store = filled();
  const before = store.machine.snapshot();
  const encoder = new SnapshotEncoder(store.machine.captureSnapshot());
  const chunks: Uint8Array[] = [encoder.next(512)!.slice()];
  store.ok({ type: 'put', request: { key: bytes('k1'), value: bytes('later') } });
  store.ok({ type: 'compact', request: { revision: store.machine.revision } });
  store.ok({ type: 'deleteRange', request: { key: bytes('k'), rangeEnd: bytes('l') } });
  store.ok({ type: 'leaseRevoke', request: { id: 7n } });
  for (let chunk = encoder.next(512); chunk !== undefined; chunk = encoder.next(512)) chunks.push(chunk.slice());
  assert.deepEqual(concat(chunks), before);
  assert.notDeepEqual(store.machine.snapshot(), before);
});
