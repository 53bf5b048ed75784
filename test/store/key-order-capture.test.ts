/**
 * A snapshot's capture (StoreStateMachine.captureSnapshot, a KeyOrderCapture
 * underneath) is walked a chunk at a time while the store goes on applying:
 * puts, deletes, compactions dropping records in steps, further captures.
 * Whatever runs in between, its bytes are those of a one-call snapshot taken
 * at the moment of the capture.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { encodeCommand, releaseSnapshotState, SnapshotEncoder, StoreStateMachine } from '../../src/store/index.js';
import type { Command } from '../../src/store/index.js';

const keyName = fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f');
const step = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('put' as const), key: keyName, value: fc.nat(1000) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('delete' as const), key: keyName, wide: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('compact' as const), back: fc.nat(6) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('compactStep' as const), records: fc.integer({ min: 1, max: 4 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('capture' as const) }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('encode' as const), which: fc.nat(), chunkBytes: fc.integer({ min: 1, max: 80 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('abandon' as const), which: fc.nat() }) },
);

interface Walk {
  readonly expected: Uint8Array;
  readonly encoder: SnapshotEncoder;
  readonly release: () => void;
  readonly chunks: Uint8Array[];
  done: boolean;
}

const bytesOf = (text: string): Uint8Array => new TextEncoder().encode(text);

function concat(chunks: readonly Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(chunks));
}

test('a capture walked between writes, compactions and other captures encodes the state it captured', () => {
  fc.assert(
    fc.property(fc.array(step, { maxLength: 120 }), (steps) => {
      const store = new StoreStateMachine({ compactInSteps: true });
      let index = 0;
      const apply = (command: Command): void => {
        store.apply(++index, encodeCommand(command));
      };
      const walks: Walk[] = [];
      const open = (): Walk[] => walks.filter((walk) => !walk.done);
      for (const each of steps) {
        switch (each.kind) {
          case 'put':
            apply({ type: 'put', request: { key: bytesOf(each.key), value: bytesOf(`v${each.value}`) } });
            break;
          case 'delete':
            apply({ type: 'deleteRange', request: { key: bytesOf(each.key), ...(each.wide ? { rangeEnd: bytesOf('z') } : {}) } });
            break;
          case 'compact': {
            const revision = store.revision - each.back;
            if (revision > store.compactRevision && revision > 0) apply({ type: 'compact', request: { revision } });
            break;
          }
          case 'compactStep':
            store.compactStep(each.records);
            break;
          case 'capture': {
            const state = store.captureSnapshot();
            // What a one-call snapshot says at this moment (it settles the compaction, as the capture did).
            const expected = store.snapshot();
            walks.push({ expected, encoder: new SnapshotEncoder(state), release: () => releaseSnapshotState(state), chunks: [], done: false });
            break;
          }
          case 'encode': {
            const candidates = open();
            const walk = candidates[each.which % Math.max(1, candidates.length)];
            if (walk === undefined) break;
            const chunk = walk.encoder.next(each.chunkBytes);
            if (chunk === undefined) walk.done = true;
            else walk.chunks.push(chunk.slice());
            break;
          }
          case 'abandon': {
            const candidates = open();
            const walk = candidates[each.which % Math.max(1, candidates.length)];
            if (walk === undefined) break;
            walk.release();
            walk.done = true;
            walk.chunks.length = 0; // an abandoned walk has nothing to check
            break;
          }
        }
      }
      for (const walk of open()) {
        for (let chunk = walk.encoder.next(64); chunk !== undefined; chunk = walk.encoder.next(64)) walk.chunks.push(chunk.slice());
        walk.done = true;
      }
      for (const walk of walks) {
        if (walk.chunks.length === 0) continue;
        assert.deepEqual(concat(walk.chunks), walk.expected);
      }
    }),
    { numRuns: 300 },
  );
});

test('a capture hands out the count it announced, even when every key it holds is compacted away meanwhile', () => {
  const store = new StoreStateMachine({ compactInSteps: true });
  let index = 0;
  for (let i = 0; i < 50; i++) store.apply(++index, encodeCommand({ type: 'put', request: { key: bytesOf(`k${i % 10}`), value: bytesOf(`v${i}`) } }));
  const expected = store.snapshot();
  const state = store.captureSnapshot();
  store.apply(++index, encodeCommand({ type: 'deleteRange', request: { key: bytesOf('k'), rangeEnd: bytesOf('l') } }));
  store.apply(++index, encodeCommand({ type: 'compact', request: { revision: store.revision } }));
  while (!store.compactStep(3));
  const encoder = new SnapshotEncoder(state);
  const chunks: Uint8Array[] = [];
  for (let chunk = encoder.next(16); chunk !== undefined; chunk = encoder.next(16)) chunks.push(chunk.slice());
  assert.deepEqual(concat(chunks), expected);
  assert.equal(encoder.recordsWritten, 50);
});
