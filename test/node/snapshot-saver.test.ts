/**
 * The member's snapshot saver on a real FileStorage: a save streams the
 * captured state in chunks and hands over the read-back snapshot, whose
 * data restores the same store; stop() during a save returns promptly,
 * removes the temporary file and leaves the older snapshot as what a
 * restart loads.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, it } from 'node:test';
import { unwrapSnapshot } from '../../src/node/membership.js';
import { type SnapshotSaved, SnapshotSaver } from '../../src/node/snapshot-saver.js';
import { EntryType } from '../../src/raft/types.js';
import { FileStorage, readSnapshotData } from '../../src/storage/index.js';
import { encodeCommand, StoreStateMachine } from '../../src/store/index.js';

let dir = '';
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'keel-snapshot-saver-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const CONF = { voters: ['n1'], learners: [] };

function filledStore(puts: number): StoreStateMachine {
  const store = new StoreStateMachine();
  for (let i = 1; i <= puts; i++) store.apply(i, encodeCommand({ type: 'put', request: { key: new TextEncoder().encode(`key/${i}`), value: new Uint8Array(2000).fill(i & 0xff) } }));
  return store;
}

function openStorage(lastIndex: number): FileStorage {
  const storage = new FileStorage(dir, { segmentSizeBytes: 1024 * 1024 });
  storage.load();
  const entries = Array.from({ length: lastIndex }, (_, i) => ({ index: i + 1, term: 1, type: EntryType.Normal, data: new Uint8Array(1) }));
  storage.save({ entries, hardState: { term: 1, vote: 'n1', commit: lastIndex } }, true);
  return storage;
}

it('saves the captured state in chunks; its data restores an equal store', async () => {
  const store = filledStore(300);
  const storage = openStorage(300);
  const saved: SnapshotSaved[] = [];
  const saver = new SnapshotSaver({ storage, chunkBytes: 16 * 1024, saved: (result) => saved.push(result) });
  const expected = store.snapshot();
  const running = saver.save(() => ({ metadata: { index: 300, term: 1, confState: CONF }, membership: new Uint8Array([1, 2, 3]), state: store.captureSnapshot() }));
  assert.equal(saver.running, true);
  // The store goes on applying while the snapshot streams; the snapshot stays at the captured index.
  store.apply(301, encodeCommand({ type: 'put', request: { key: new TextEncoder().encode('later'), value: new Uint8Array(1) } }));
  const result = await running;
  assert.ok(result !== undefined && saved.length === 1);
  assert.ok(result.chunks > 10, `expected many chunks, got ${result.chunks}`);
  const { membership, store: storeBytes } = unwrapSnapshot(await readSnapshotData(result.snapshot.data));
  assert.deepEqual(membership, new Uint8Array([1, 2, 3]));
  assert.deepEqual(new Uint8Array(storeBytes), expected);
  storage.close();
});

it('stop() during a save removes the temporary file; a restart loads the older snapshot', async () => {
  const store = filledStore(300);
  const storage = openStorage(300);
  storage.saveSnapshot({ metadata: { index: 100, term: 1, confState: CONF }, data: new Uint8Array([9]) });
  const saver = new SnapshotSaver({ storage, chunkBytes: 4 * 1024, saved: () => assert.fail('a stopped save must not be adopted') });
  const running = saver.save(() => ({ metadata: { index: 300, term: 1, confState: CONF }, membership: new Uint8Array(0), state: store.captureSnapshot() }));
  await new Promise((resolve) => setImmediate(resolve)); // let it start writing
  await saver.stop();
  assert.equal(await running, undefined);
  assert.equal(saver.running, false);
  assert.deepEqual(readdirSync(join(dir, 'snap')), ['snap-0000000000000001-0000000000000064.snap']);
  assert.equal(await saver.save(() => assert.fail('a stopped saver captures nothing')), undefined);
  storage.close();
  const again = new FileStorage(dir, { segmentSizeBytes: 1024 * 1024 });
  assert.equal(again.load().snapshot.metadata.index, 100);
  again.close();
});
