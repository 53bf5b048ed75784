import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { prefixRangeEnd } from '../../src/store/index.js';
import { REQUEST_BYTES_MAX, WATCH_CATCH_UP_EVENTS_PER_PASS, WATCH_STREAM_PENDING_BYTES_MAX } from '../../src/store/limits.js';
import { WatchHub } from '../../src/store/watch-hub.js';
import type { WatchCreate, WatchResponseData, WatchSink, WatchStream } from '../../src/store/watch-hub.js';
import { bytes, Harness, text } from './helpers.js';

/**
 * WatchHub against a real StoreStateMachine: every write goes through
 * apply(), so the hub sees exactly the batches and history a member would.
 * The sink can hold back `released()`, which is what a client that stops
 * reading looks like to the hub (its gRPC write callbacks never fire); a
 * stream then hands it nothing more until it releases (what comes meanwhile
 * waits in the stream's send queue, test/store/watch-send-queue.test.ts).
 */

/** Catch-up passes one drain runs before it gives up: far more than any test here needs, so a hub that never settles fails instead of hanging. */
const DRAIN_PASSES_MAX = 100_000;

class FakeSink implements WatchSink {
  readonly responses: WatchResponseData[] = [];
  /** Bytes sent and not yet released, while held. */
  #held = 0;
  hold = false;
  stream!: WatchStream;
  pendingBytesMax = 0;

  send(response: WatchResponseData, bytes: number): void {
    this.responses.push(response);
    this.pendingBytesMax = Math.max(this.pendingBytesMax, this.stream.pendingBytes);
    // Released synchronously unless held: the hub must cope with a sink that flushes at once.
    if (this.hold) this.#held += bytes;
    else this.stream.released(bytes);
  }

  /** Bytes the sink holds: 0 after a release means the stream had nothing more waiting. */
  get held(): number {
    return this.#held;
  }

  /** The client read everything it was sent. */
  release(): void {
    const held = this.#held;
    this.#held = 0;
    this.stream.released(held);
  }

  of(watchId: bigint): WatchResponseData[] {
    return this.responses.filter((response) => response.watchId === watchId);
  }

  /** One watcher's events as "TYPE key=value@revision". */
  events(watchId: bigint): string[] {
    return this.of(watchId).flatMap((response) => response.events.map((event) => `${event.type} ${text(event.kv.key)}=${text(event.kv.value)}@${event.kv.modRevision}`));
  }

  revisions(watchId: bigint): number[] {
    return this.of(watchId).flatMap((response) => response.events.map((event) => event.kv.modRevision));
  }
}

class Fixture {
  readonly store = new Harness();
  readonly hub: WatchHub;
  catchUpWanted = false;

  constructor() {
    this.hub = new WatchHub(this.store.machine, () => (this.catchUpWanted = true));
    this.store.machine.subscribe((batch) => this.hub.onBatch(batch));
  }

  open(): FakeSink {
    const sink = new FakeSink();
    sink.stream = this.hub.open(sink);
    return sink;
  }

  /** Runs catch-up passes until the hub says nothing more can progress now (what the node's setImmediate loop does). */
  drain(): void {
    this.catchUpWanted = false;
    for (let pass = 0; pass < DRAIN_PASSES_MAX; pass++) if (!this.hub.catchUp()) return;
    assert.fail('catch-up did not settle');
  }

  compact(revision: number): void {
    this.store.ok({ type: 'compact', request: { revision } });
  }
}

const watch = (key: string, extra: Partial<WatchCreate> = {}): WatchCreate => ({ key: bytes(key), ...extra });

test('the created notice comes first, then live events on the key only', () => {
  const f = new Fixture();
  const sink = f.open();
  sink.stream.create(watch('a'));
  f.store.put('a', '1');
  f.store.put('b', '1');
  f.store.put('a', '2');
  f.store.del('a');
  assert.deepEqual(sink.responses[0], { watchId: 0n, revision: 1, created: true, events: [] });
  assert.deepEqual(sink.events(0n), ['PUT a=1@2', 'PUT a=2@4', 'DELETE a=@5']);
  // Live events carry the revision of their batch in the header.
  assert.deepEqual(sink.of(0n).slice(1).map((response) => response.revision), [2, 4, 5]);
});

test('a historical start replays history in order, then continues live without a gap or a repeat', () => {
  const f = new Fixture();
  for (let i = 1; i <= 5; i++) f.store.put('a', String(i)); // revisions 2..6
  const sink = f.open();
  sink.stream.create(watch('a', { startRevision: 3 }));
  assert.equal(sink.responses.length, 1, 'only the created notice before catch-up runs');
  assert.equal(f.catchUpWanted, true);
  f.drain();
  f.store.put('a', '6');
  assert.deepEqual(sink.revisions(0n), [3, 4, 5, 6, 7]);
});

test('a start at the compaction revision is allowed; below it the watcher is created, then cancelled with compact_revision', () => {
  const f = new Fixture();
  for (let i = 1; i <= 5; i++) f.store.put('a', String(i)); // revisions 2..6
  f.compact(4);
  const sink = f.open();
  sink.stream.create(watch('a', { startRevision: 4, watchId: 1n }));
  sink.stream.create(watch('a', { startRevision: 3, watchId: 2n }));
  f.drain();
  assert.deepEqual(sink.revisions(1n), [4, 5, 6]);
  const below = sink.of(2n);
  assert.equal(below.length, 2);
  assert.equal(below[0]!.created, true);
  assert.equal(below[1]!.canceled, true);
  assert.equal(below[1]!.compactRevision, 4);
  assert.equal(below[1]!.cancelReason, 'mvcc: required revision has been compacted');
  f.store.put('a', '7');
  assert.deepEqual(sink.revisions(2n), [], 'a cancelled watcher gets nothing more');
});

test('a delete at exactly the compaction revision still reaches a watch that starts there', () => {
  // etcd drops a tombstone at the compaction revision yet lets a watch start
  // there, so such a watcher silently missed the DELETE. Keel keeps it.
  const f = new Fixture();
  f.store.put('a', '1'); // 2
  f.store.put('b', '1'); // 3
  f.store.del('a'); // 4
  f.compact(4);
  const sink = f.open();
  sink.stream.create(watch('a', { startRevision: 4 }));
  f.drain();
  assert.deepEqual(sink.events(0n), ['DELETE a=@4']);
  // And a range at the compaction revision still sees the key as absent.
  assert.deepEqual(f.store.list('a', undefined, 4), []);
  assert.deepEqual(f.store.list('b', undefined, 4), ['b=1']);
});

test('prev_kv is given only to watchers that ask for it', () => {
  const f = new Fixture();
  const sink = f.open();
  sink.stream.create(watch('a', { prevKv: true, watchId: 1n }));
  sink.stream.create(watch('a', { watchId: 2n }));
  f.store.put('a', '1');
  f.store.put('a', '2');
  f.store.del('a');
  const withPrev = sink.of(1n).flatMap((response) => response.events.map((event) => (event.prevKv ? text(event.prevKv.value) : null)));
  assert.deepEqual(withPrev, [null, '1', '2']);
  const without = sink.of(2n).flatMap((response) => response.events.map((event) => event.prevKv));
  assert.deepEqual(without, [undefined, undefined, undefined]);
});

test('NOPUT and NODELETE filters, live and from history', () => {
  const f = new Fixture();
  f.store.put('a', '1');
  f.store.del('a');
  const sink = f.open();
  sink.stream.create(watch('a', { filters: ['NOPUT'], watchId: 1n, startRevision: 1 }));
  sink.stream.create(watch('a', { filters: ['NODELETE'], watchId: 2n, startRevision: 1 }));
  f.drain();
  f.store.put('a', '2');
  f.store.del('a');
  assert.deepEqual(sink.events(1n), ['DELETE a=@3', 'DELETE a=@5']);
  assert.deepEqual(sink.events(2n), ['PUT a=1@2', 'PUT a=2@4']);
});

test('range and prefix watches see exactly their keys', () => {
  const f = new Fixture();
  const sink = f.open();
  sink.stream.create(watch('b', { rangeEnd: bytes('d'), watchId: 1n }));
  sink.stream.create(watch('p/', { rangeEnd: prefixRangeEnd(bytes('p/')), watchId: 2n }));
  sink.stream.create(watch('\0', { rangeEnd: bytes('\0'), watchId: 3n })); // every key
  for (const key of ['a', 'b', 'bz', 'c', 'd', 'p', 'p/', 'p/x', 'q']) f.store.put(key, 'v');
  const keys = (id: bigint): string[] => sink.events(id).map((event) => event.split(' ')[1]!.split('=')[0]!);
  assert.deepEqual(keys(1n), ['b', 'bz', 'c']);
  assert.deepEqual(keys(2n), ['p/', 'p/x']);
  assert.deepEqual(keys(3n).length, 9);
});

test('a future start revision delivers nothing before it', () => {
  const f = new Fixture();
  const sink = f.open();
  sink.stream.create(watch('a', { startRevision: 4 }));
  f.store.put('a', '1'); // 2
  f.store.put('a', '2'); // 3
  f.drain();
  f.store.put('a', '3'); // 4
  f.store.put('a', '4'); // 5
  assert.deepEqual(sink.revisions(0n), [4, 5]);
});

test('cancel answers, stops the events, and answers unknown ids too', () => {
  const f = new Fixture();
  const sink = f.open();
  sink.stream.create(watch('a'));
  f.store.put('a', '1');
  sink.stream.cancel(0n);
  f.store.put('a', '2');
  assert.deepEqual(sink.revisions(0n), [2]);
  assert.equal(sink.of(0n).at(-1)!.canceled, true);
  sink.stream.cancel(42n);
  assert.equal(sink.of(42n)[0]!.canceled, true);
  assert.equal(f.hub.stats().watchers, 0);
});

test('a duplicate watch id is refused in a created+canceled notice and the first watcher keeps working', () => {
  const f = new Fixture();
  const sink = f.open();
  sink.stream.create(watch('a', { watchId: 7n }));
  sink.stream.create(watch('b', { watchId: 7n }));
  const refusal = sink.of(7n)[1]!;
  assert.equal(refusal.created, true);
  assert.equal(refusal.canceled, true);
  assert.match(refusal.cancelReason ?? '', /duplicate watch ID/);
  f.store.put('a', '1');
  f.store.put('b', '1');
  assert.deepEqual(sink.events(7n), ['PUT a=1@2']);
  // An id the stream picks itself skips ids the client took.
  sink.stream.create(watch('c', { watchId: 0n }));
  sink.stream.create(watch('c'));
  const created = sink.responses.filter((response) => response.created && !response.canceled).map((response) => response.watchId);
  assert.deepEqual(created, [7n, 0n, 1n]);
});

test('a progress request is answered (watch id -1) only once every watcher of the stream is synced', () => {
  const f = new Fixture();
  for (let i = 0; i < 3; i++) f.store.put('a', String(i)); // 2..4
  const sink = f.open();
  sink.stream.create(watch('b'));
  sink.stream.create(watch('a', { startRevision: 2 })); // unsynced until catch-up
  sink.stream.requestProgress();
  assert.deepEqual(sink.of(-1n), []);
  f.drain();
  assert.deepEqual(sink.of(-1n).map((response) => response.revision), [4]);
  // The answer comes after the caught-up events, so the client may trust the revision.
  const answerAt = sink.responses.findIndex((response) => response.watchId === -1n);
  const lastEventAt = sink.responses.findLastIndex((response) => response.events.length > 0);
  assert.ok(lastEventAt < answerAt);
  // All synced: answered at once.
  f.store.put('a', 'x');
  sink.stream.requestProgress();
  assert.deepEqual(sink.of(-1n).map((response) => response.revision), [4, 5]);
});

test('progress notify goes to synced watchers that asked for it, with the current revision', () => {
  const f = new Fixture();
  const sink = f.open();
  sink.stream.create(watch('a', { progressNotify: true, watchId: 1n }));
  sink.stream.create(watch('a', { watchId: 2n }));
  f.store.put('z', '1');
  f.hub.progress();
  assert.deepEqual(sink.of(1n).slice(1), [{ watchId: 1n, revision: 2, events: [] }]);
  assert.equal(sink.of(2n).length, 1);
});

test('fragment splits a large response into pieces under the request limit; without it one response carries all', () => {
  const f = new Fixture();
  const big = 'x'.repeat(600 * 1024);
  for (let i = 0; i < 5; i++) f.store.put('a', `${i}${big}`); // 3 MB in all
  const sink = f.open();
  sink.stream.create(watch('a', { startRevision: 1, fragment: true, watchId: 1n }));
  sink.stream.create(watch('a', { startRevision: 1, watchId: 2n }));
  f.drain();
  const fragments = sink.of(1n).slice(1);
  assert.ok(fragments.length > 1);
  assert.deepEqual(fragments.map((response) => response.fragment === true), [...fragments.slice(1).map(() => true), false]);
  for (const response of fragments) assert.ok(response.events.reduce((sum, event) => sum + event.kv.value.length, 0) <= REQUEST_BYTES_MAX);
  assert.deepEqual(sink.revisions(1n), [2, 3, 4, 5, 6]);
  assert.equal(sink.of(2n).length, 2);
  assert.deepEqual(sink.revisions(2n), [2, 3, 4, 5, 6]);
});

test('after a snapshot restore, synced watchers read the skipped revisions from history', () => {
  const f = new Fixture();
  const leader = new Harness();
  const sink = f.open();
  sink.stream.create(watch('k', { rangeEnd: bytes('l') }));
  for (const store of [f.store, leader]) store.put('k1', 'a'); // 2 on both
  for (let i = 0; i < 4; i++) leader.put(`k${i}`, 'b'); // 3..6 on the leader only
  f.store.machine.restore(leader.machine.snapshot());
  f.store.index = leader.index;
  f.hub.onRestore();
  assert.equal(f.catchUpWanted, true);
  f.drain();
  f.store.put('k9', 'c'); // 7
  assert.deepEqual(sink.revisions(0n), [2, 3, 4, 5, 6, 7]);
});

/** Bytes one catch-up pass can add beyond the bound: WATCH_CATCH_UP_EVENTS_PER_PASS events of `valueBytes`, with generous per-event overhead. */
const passBytes = (valueBytes: number): number => WATCH_CATCH_UP_EVENTS_PER_PASS * (valueBytes + 256);

test('a starved stream: pending bytes stay bounded over thousands of writes, then every event arrives exactly once, in order', () => {
  const f = new Fixture();
  const stuck = f.open();
  const healthy = f.open();
  stuck.stream.create(watch('s/', { rangeEnd: prefixRangeEnd(bytes('s/')) }));
  healthy.stream.create(watch('s/', { rangeEnd: prefixRangeEnd(bytes('s/')) }));
  stuck.hold = true;
  const value = 'v'.repeat(4096);
  const writes = 6000; // 24 MB of values: three times the bound
  for (let i = 0; i < writes; i++) {
    f.store.put(`s/${i % 50}`, `${i}${value}`);
    if (f.catchUpWanted) f.drain(); // the node runs catch-up passes between applies
  }
  // The stuck stream stopped getting events near the bound and fell back to history.
  assert.ok(stuck.pendingBytesMax <= WATCH_STREAM_PENDING_BYTES_MAX + 8192, `pending ${stuck.pendingBytesMax}`);
  assert.equal(f.hub.stats().unsynced, 1);
  assert.ok(stuck.revisions(0n).length < writes);
  // The healthy stream on the same hub was served throughout.
  assert.equal(healthy.revisions(0n).length, writes);
  // The client reads again: each pass may add one pass of bytes over the bound, no more.
  stuck.pendingBytesMax = 0;
  // Each release lets the next waiting response out (the sink holds it), so go on until nothing more waits.
  for (let round = 0; round < 1000 && (f.hub.stats().unsynced > 0 || stuck.held > 0); round++) {
    stuck.release();
    f.drain();
  }
  assert.equal(f.hub.stats().unsynced, 0);
  assert.equal(stuck.held, 0);
  assert.ok(stuck.pendingBytesMax <= WATCH_STREAM_PENDING_BYTES_MAX + passBytes(value.length + 8), `pending ${stuck.pendingBytesMax}`);
  const expected = Array.from({ length: writes }, (_, i) => i + 2);
  assert.deepEqual(stuck.revisions(0n), expected);
  // And it is live again.
  stuck.release();
  f.store.put('s/x', 'live');
  assert.equal(stuck.revisions(0n).at(-1), writes + 2);
});

test('a watcher lagging while a compaction passes its next revision is cancelled with compact_revision, not skipped ahead', () => {
  const f = new Fixture();
  const sink = f.open();
  sink.stream.create(watch('k'));
  sink.hold = true;
  const value = 'v'.repeat(64 * 1024);
  for (let i = 0; i < 300; i++) f.store.put('k', `${i}${value}`); // ~19 MB: congested after ~128
  f.drain();
  // The client reads what the stream had taken before it congested; the watcher still lags (no catch-up pass runs).
  sink.hold = false;
  sink.release();
  const delivered = sink.revisions(0n);
  assert.ok(delivered.length < 300);
  const firstMissing = delivered.at(-1)! + 1;
  const compactAt = f.store.machine.revision - 10;
  assert.ok(compactAt > firstMissing);
  f.compact(compactAt);
  sink.release();
  f.drain();
  assert.deepEqual(sink.revisions(0n), delivered, 'nothing delivered across the gap');
  const last = sink.of(0n).at(-1)!;
  assert.equal(last.canceled, true);
  assert.equal(last.compactRevision, compactAt);
  assert.equal(last.cancelReason, 'mvcc: required revision has been compacted');
  assert.equal(f.hub.stats().watchers, 0);
});

// ---------------------------------------------------------------- property

const KEYS = ['a', 'b', 'c', 'd'];
/** Values large enough that a handful of writes fills a stream's bound, so stalls really push watchers off the live path. */
const LARGE_VALUE = bytes('L'.repeat(Math.ceil(WATCH_STREAM_PENDING_BYTES_MAX / 6)));
const SMALL_VALUE = bytes('small');

type Step =
  | { type: 'put'; key: string; large: boolean }
  | { type: 'delete'; key: string }
  | { type: 'compact'; back: number }
  | { type: 'stall'; stream: number }
  | { type: 'release'; stream: number }
  | { type: 'catchUp' }
  | { type: 'watch'; stream: number; key: number; width: number; back: number; atCompaction: boolean };

const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ type: fc.constant('put' as const), key: fc.constantFrom(...KEYS), large: fc.integer({ min: 0, max: 3 }).map((n) => n === 0) }) },
  { weight: 2, arbitrary: fc.record({ type: fc.constant('delete' as const), key: fc.constantFrom(...KEYS) }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('compact' as const), back: fc.integer({ min: 0, max: 6 }) }) },
  { weight: 2, arbitrary: fc.record({ type: fc.constant('stall' as const), stream: fc.integer({ min: 0, max: 1 }) }) },
  { weight: 2, arbitrary: fc.record({ type: fc.constant('release' as const), stream: fc.integer({ min: 0, max: 1 }) }) },
  { weight: 2, arbitrary: fc.record({ type: fc.constant('catchUp' as const) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      type: fc.constant('watch' as const),
      stream: fc.integer({ min: 0, max: 1 }),
      key: fc.integer({ min: 0, max: KEYS.length - 1 }),
      width: fc.integer({ min: 1, max: KEYS.length }),
      back: fc.integer({ min: -2, max: 8 }),
      // Start exactly at the compaction revision (etcd allows it): the edge where a tombstone at that revision was lost.
      atCompaction: fc.boolean(),
    }),
  },
);

interface ModelWatcher {
  sink: FakeSink;
  id: bigint;
  keys: Set<string>;
  start: number;
}

test('property: each watcher gets exactly its range history from its start, in order, or a compacted cancel at the first gap', () => {
  fc.assert(
    fc.property(fc.array(step, { minLength: 1, maxLength: 60, size: 'max' }), (steps) => {
      const f = new Fixture();
      const sinks = [f.open(), f.open()];
      const history: { revision: number; key: string }[] = [];
      const live = new Set<string>();
      const watchers: ModelWatcher[] = [];
      const addWatcher = (stream: number, key: number, width: number, start: number): void => {
        const sink = sinks[stream]!;
        const keys = KEYS.slice(key, key + width);
        // A held sink may not see the created notice yet; a stream numbers its watchers 0, 1, ... in creation order.
        const id = BigInt(watchers.filter((watcher) => watcher.sink === sink).length);
        sink.stream.create({ key: bytes(keys[0]!), rangeEnd: bytes(String.fromCharCode(keys.at(-1)!.charCodeAt(0) + 1)), startRevision: start });
        watchers.push({ sink, id, keys: new Set(keys), start: start > 0 ? start : f.store.machine.revision + 1 });
      };
      addWatcher(0, 0, KEYS.length, 0);
      addWatcher(1, 1, 2, 1);
      for (const s of steps) {
        switch (s.type) {
          case 'put': {
            const put = f.store.ok({ type: 'put', request: { key: bytes(s.key), value: s.large ? LARGE_VALUE : SMALL_VALUE } });
            const revision = put.response.header.revision;
            history.push({ revision, key: s.key });
            live.add(s.key);
            break;
          }
          case 'delete':
            if (!live.has(s.key)) break;
            f.store.del(s.key);
            history.push({ revision: f.store.machine.revision, key: s.key });
            live.delete(s.key);
            break;
          case 'compact': {
            const revision = f.store.machine.revision - s.back;
            if (revision > f.store.machine.compactRevision) f.compact(revision);
            break;
          }
          case 'stall':
            sinks[s.stream]!.hold = true;
            break;
          case 'release':
            sinks[s.stream]!.hold = false;
            sinks[s.stream]!.release();
            break;
          case 'catchUp':
            f.hub.catchUp();
            break;
          case 'watch':
            addWatcher(s.stream, s.key, s.width, s.atCompaction && f.store.machine.compactRevision > 0 ? f.store.machine.compactRevision : Math.max(0, f.store.machine.revision - s.back));
            break;
        }
      }
      for (const sink of sinks) {
        sink.hold = false;
        sink.release();
      }
      f.drain();
      for (const watcher of watchers) {
        const responses = watcher.sink.of(watcher.id);
        assert.equal(responses[0]?.created, true, `watcher ${watcher.id}: the created notice first`);
        const delivered = watcher.sink.revisions(watcher.id);
        for (let i = 1; i < delivered.length; i++) assert.ok(delivered[i - 1]! < delivered[i]!, `watcher ${watcher.id}: ${delivered.join(',')}`);
        const expected = history.filter((event) => event.revision >= watcher.start && watcher.keys.has(event.key)).map((event) => event.revision);
        const cancel = responses.find((response) => response.canceled);
        if (!cancel) {
          assert.deepEqual(delivered, expected, `watcher ${watcher.id} from ${watcher.start}`);
          continue;
        }
        // Cancelled: what it got is a prefix of its history, and the compaction passed the first revision it missed.
        assert.deepEqual(delivered, expected.slice(0, delivered.length));
        assert.ok(cancel.compactRevision !== undefined && cancel.compactRevision > 0);
        const firstMissing = delivered.length > 0 ? delivered.at(-1)! + 1 : watcher.start;
        assert.ok(cancel.compactRevision > firstMissing, `cancelled at ${cancel.compactRevision}, first missing ${firstMissing}`);
        assert.equal(responses.at(-1), cancel, 'nothing after the cancel');
      }
    }),
    { numRuns: Number(process.env.WATCH_PROPERTY_RUNS ?? 150) },
  );
});
