import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConnectionError, type CompareAndSwapResult, type KeyValue, type PutResult, type RangeResult, type WatchBatch } from '../../src/client/index.js';
import { checkRevisions, parseHistory, type RevisionViolationKind } from '../../src/check/index.js';
import { HistoryRecorder, type RecordedClient, recordWatch } from '../../src/check/recorder.js';
import { seededRandom } from '../../src/check/simulate.js';

/**
 * A documented fake of etcd's revisioned KV (put, range, compare-and-set,
 * and a watch of everything): one in-memory map and revision counter; each
 * call waits a random number of event-loop turns before and after it takes
 * effect, atomically, so it is correct by construction. `fault` makes a call
 * lose its reply after applying (an unknown outcome); `staleReads` serves a
 * read at the revision before the latest write; `dropWatchEvery` makes the
 * watch skip every n-th event. The real store is checked the same way in the
 * Jepsen-style tests (test/chaos/campaign).
 */
class FakeEtcd implements RecordedClient {
  readonly #values = new Map<string, KeyValue>();
  readonly #history: { revision: number; key: string; kv: KeyValue }[] = [];
  #revision = 0;
  readonly #random: () => number;
  readonly #watchers: ((batch: WatchBatch) => void)[] = [];
  #delivered = 0;
  fault: ((call: number) => 'after' | undefined) | undefined;
  staleReads = false;
  dropWatchEvery = 0;
  #calls = 0;

  constructor(seed: number) {
    this.#random = seededRandom(seed);
  }

  async #apply<T>(effect: () => T): Promise<T> {
    this.#calls += 1;
    const fault = this.fault?.(this.#calls);
    for (let turn = Math.floor(this.#random() * 4); turn > 0; turn -= 1) await new Promise((resolve) => setImmediate(resolve));
    const result = effect();
    for (let turn = Math.floor(this.#random() * 4); turn > 0; turn -= 1) await new Promise((resolve) => setImmediate(resolve));
    if (fault === 'after') throw new ConnectionError(true, new Error('socket hang up'));
    return result;
  }

  #write(key: string, value: string): number {
    this.#revision += 1;
    const previous = this.#values.get(key);
    const kv: KeyValue = { key: Buffer.from(key), value: Buffer.from(value), createRevision: previous?.createRevision ?? this.#revision, modRevision: this.#revision, version: (previous?.version ?? 0) + 1, lease: '0' };
    this.#values.set(key, kv);
    this.#history.push({ revision: this.#revision, key, kv });
    this.#delivered += 1;
    if (!(this.dropWatchEvery > 0 && this.#delivered % this.dropWatchEvery === 0)) {
      for (const deliver of this.#watchers) deliver({ headerRevision: this.#revision, events: [{ type: 'PUT', kv, prevKv: undefined }] } as unknown as WatchBatch);
    }
    return this.#revision;
  }

  #header(revision: number): PutResult['header'] {
    return { clusterId: '1', memberId: '1', revision, raftTerm: 1 };
  }

  async put(key: string, value: string): Promise<PutResult> {
    return this.#apply(() => ({ header: this.#header(this.#write(key, value)), prevKv: undefined }));
  }

  async get(key: string): Promise<KeyValue | undefined> {
    return (await this.range(key)).kvs[0];
  }

  async range(key: string): Promise<RangeResult> {
    return this.#apply(() => {
      let kv = this.#values.get(key);
      if (this.staleReads && this.#history.at(-1)?.key === key) kv = this.#history.findLast((entry) => entry.key === key && entry.revision < this.#revision)?.kv;
      return { header: this.#header(this.#revision), kvs: kv === undefined ? [] : [kv], count: kv === undefined ? 0 : 1, more: false };
    });
  }

  async compareAndSwap(key: string, expected: string | number, newValue: string): Promise<CompareAndSwapResult> {
    return this.#apply(() => {
      const current = this.#values.get(key);
      const matches = expected === 0 ? current === undefined : current?.value.toString() === expected;
      if (!matches) return { succeeded: false, revision: this.#revision, current };
      return { succeeded: true, revision: this.#write(key, newValue), current: undefined };
    });
  }

  /** Every event from now on, until `stop()`. */
  watch(): { stream: AsyncIterable<WatchBatch>; stop: () => void; startRevision: number } {
    const queue: WatchBatch[] = [];
    let wake: (() => void) | undefined;
    let stopped = false;
    const deliver = (batch: WatchBatch): void => {
      queue.push(batch);
      wake?.();
    };
    this.#watchers.push(deliver);
    const stream = async function* (): AsyncGenerator<WatchBatch> {
      for (;;) {
        while (queue.length > 0) yield queue.shift()!;
        if (stopped) return;
        await new Promise<void>((resolve) => (wake = resolve));
      }
    };
    return { stream: stream(), stop: () => ((stopped = true), wake?.()), startRevision: this.#revision + 1 };
  }
}

async function recorded(fake: FakeEtcd, clients: number, operationsPerClient: number, seed: number): Promise<string> {
  const lines: string[] = [];
  const watch = fake.watch();
  const watching = recordWatch({ watch: watch.stream, watcher: 'w0', prefix: 'k', startRevision: watch.startRevision, sink: (line) => lines.push(line) });
  const random = seededRandom(seed);
  await Promise.all(Array.from({ length: clients }, async (_, clientId) => {
    const recorder = new HistoryRecorder({ client: fake, clientId, sink: (line) => lines.push(line) });
    let lastSeen: string | null = null;
    for (let index = 0; index < operationsPerClient; index += 1) {
      const key = `k${Math.floor(random() * 3)}`;
      const choice = random();
      try {
        if (choice < 0.45) lastSeen = await recorder.read(key);
        else if (choice < 0.75) await recorder.write(key);
        else await recorder.cas(key, lastSeen);
      } catch {
        // Recorded as fail or info; the workload goes on.
      }
    }
  }));
  watch.stop();
  await watching;
  return lines.join('\n');
}

test('histories recorded from a correct revisioned store pass, unknown writes that were observed are placed', async () => {
  for (const seed of [1, 2, 3]) {
    const fake = new FakeEtcd(seed);
    fake.fault = (call) => (call % 13 === 0 ? 'after' : undefined);
    const history = parseHistory('etcd.jsonl', await recorded(fake, 6, 50, seed), 'keel');
    const result = checkRevisions(history);
    assert.equal(result.verdict, 'ok', result.reason);
    assert.equal(result.watchers, 1);
    assert.ok(result.watchEvents > 20, `the watch recorded ${result.watchEvents} events`);
    assert.ok(result.reads > 20);
    assert.ok(result.unknownWritesPlaced > 0, 'writes whose reply was lost are seen by the watch and placed');
  }
});

test('a store serving stale reads, or a watch that skips events, is caught', async () => {
  const stale = new FakeEtcd(4);
  stale.staleReads = true;
  const staleResult = checkRevisions(parseHistory('stale.jsonl', await recorded(stale, 4, 60, 4), 'keel'));
  assert.equal(staleResult.verdict, 'violation');
  assert.ok(staleResult.violations.some((violation) => violation.kind === 'stale-read' || violation.kind === 'real-time'), staleResult.reason);
  const gappy = new FakeEtcd(5);
  gappy.dropWatchEvery = 17;
  const gapResult = checkRevisions(parseHistory('gap.jsonl', await recorded(gappy, 4, 60, 5), 'keel'));
  assert.equal(gapResult.verdict, 'violation');
  assert.deepEqual(new Set(gapResult.violations.map((violation) => violation.kind)), new Set(['watch-gap']));
});

/** A hand-written history (keel JSONL, one event a line). */
const jsonl = (...events: object[]): string => events.map((event) => JSON.stringify(event)).join('\n');
const op = (process: number, f: string, key: string, argument: unknown, call: number, ret: number, completion: object): object[] => [
  { process, type: 'invoke', f, key, value: argument, time: call },
  { process, f, key, value: argument, time: ret, type: 'ok', ...completion },
];

function kinds(text: string): Set<RevisionViolationKind> {
  return new Set(checkRevisions(parseHistory('case.jsonl', text, 'keel')).violations.map((violation) => violation.kind));
}

test('each rule catches its own violation, and only that one', () => {
  const base = [...op(1, 'write', 'a', 'x', 0, 10, { revision: 2 }), ...op(2, 'write', 'a', 'y', 20, 30, { revision: 3 })];
  assert.deepEqual(kinds(jsonl(...base, ...op(3, 'read', 'a', null, 40, 50, { value: 'y', revision: 3, modRevision: 3 }))), new Set());
  // A read served after y was acknowledged returns x: stale.
  assert.deepEqual(kinds(jsonl(...base, ...op(3, 'read', 'a', null, 40, 50, { value: 'x', revision: 3, modRevision: 2 }))), new Set(['stale-read']));
  // A read served at a revision below one already acknowledged before it started.
  assert.deepEqual(kinds(jsonl(...base, ...op(3, 'read', 'a', null, 40, 50, { value: 'x', revision: 2, modRevision: 2 }))), new Set(['real-time']));
  // A write that started after another finished, with a smaller revision.
  assert.deepEqual(kinds(jsonl(...op(1, 'write', 'a', 'x', 0, 10, { revision: 5 }), ...op(2, 'write', 'b', 'y', 20, 30, { revision: 4 }))), new Set(['real-time']));
  // Two acknowledged writes at one revision.
  assert.deepEqual(kinds(jsonl(...op(1, 'write', 'a', 'x', 0, 10, { revision: 2 }), ...op(2, 'write', 'b', 'y', 0, 10, { revision: 2 }))), new Set(['revision-conflict']));
  // A value nobody wrote.
  assert.deepEqual(kinds(jsonl(...base, ...op(3, 'read', 'a', null, 40, 50, { value: 'z', revision: 4, modRevision: 4 }))), new Set(['unknown-value']));
  // A failed write seen applied.
  const failed = [{ process: 4, type: 'invoke', f: 'write', key: 'a', value: 'f', time: 31 }, { process: 4, type: 'fail', f: 'write', key: 'a', value: 'f', time: 32 }];
  assert.deepEqual(kinds(jsonl(...base, ...failed, ...op(3, 'read', 'a', null, 40, 50, { value: 'f', revision: 4, modRevision: 4 }))), new Set(['failed-write-applied']));
  // An unknown write seen by a read is placed, and then bound by real time too.
  const unknown = [{ process: 4, type: 'invoke', f: 'write', key: 'a', value: 'u', time: 31 }, { process: 4, type: 'info', f: 'write', key: 'a', value: 'u', time: 32 }];
  const placed = checkRevisions(parseHistory('u.jsonl', jsonl(...base, ...unknown, ...op(3, 'read', 'a', null, 40, 50, { value: 'u', revision: 4, modRevision: 4 })), 'keel'));
  assert.equal(placed.verdict, 'ok', placed.reason);
  assert.equal(placed.unknownWritesPlaced, 1);
  assert.deepEqual(kinds(jsonl(...base, ...unknown, ...op(3, 'read', 'a', null, 40, 50, { value: 'u', revision: 4, modRevision: 1 }))), new Set(['real-time', 'stale-read']));
  // A compare-and-set that succeeded though its expected value had been overwritten.
  assert.deepEqual(kinds(jsonl(...base, ...op(3, 'cas', 'a', ['x', 'c'], 40, 50, { revision: 4 }))), new Set(['cas-expectation']));
  assert.deepEqual(kinds(jsonl(...base, ...op(3, 'cas', 'a', ['y', 'c'], 40, 50, { revision: 4 }))), new Set());
  assert.deepEqual(kinds(jsonl(...base, ...op(3, 'cas', 'a', [null, 'c'], 40, 50, { revision: 4 }))), new Set(['cas-expectation']));
  // A read whose mod_revision is above the revision it was served at.
  assert.deepEqual(kinds(jsonl(...base, ...op(3, 'read', 'a', null, 40, 50, { value: 'y', revision: 3, modRevision: 9 }))), new Set(['read-revision']));
});

test('watch streams: in order, once each, no gap from their start', () => {
  const base = [...op(1, 'write', 'k1', 'x', 0, 10, { revision: 2 }), ...op(2, 'write', 'k2', 'y', 20, 30, { revision: 3 }), ...op(1, 'write', 'k1', 'z', 40, 50, { revision: 4 })];
  const start = { process: 'w', type: 'watch-start', key: 'k', revision: 2 };
  const event = (key: string, value: string, revision: number): object => ({ process: 'w', type: 'watch', f: 'put', key, value, revision });
  assert.deepEqual(kinds(jsonl(start, ...base, event('k1', 'x', 2), event('k2', 'y', 3), event('k1', 'z', 4))), new Set());
  assert.deepEqual(kinds(jsonl(start, ...base, event('k1', 'x', 2), event('k1', 'z', 4))), new Set(['watch-gap']));
  assert.deepEqual(kinds(jsonl(start, ...base, event('k1', 'x', 2), event('k1', 'z', 4), event('k2', 'y', 3))), new Set(['watch-order']));
  assert.deepEqual(kinds(jsonl(start, ...base, event('k1', 'x', 2), event('k2', 'y', 3), event('k2', 'y', 3), event('k1', 'z', 4))), new Set(['watch-duplicate']));
  assert.deepEqual(kinds(jsonl(start, ...base, event('k1', 'x', 2), event('k2', 'q', 3))), new Set(['revision-conflict']));
  // A watch that stopped early covers only what it delivered.
  assert.deepEqual(kinds(jsonl(start, ...base, event('k1', 'x', 2))), new Set());
});

test('a history without revisions is skipped, not passed; malformed watch lines name the line', () => {
  const plain = checkRevisions(parseHistory('plain.jsonl', jsonl(...op(1, 'write', 'a', 'x', 0, 10, {})), 'keel'));
  assert.equal(plain.verdict, 'skipped');
  assert.throws(() => parseHistory('bad.jsonl', jsonl({ process: 'w', type: 'watch', f: 'put', key: 'a', value: 'x' }), 'keel'), /bad\.jsonl:1.*needs a revision/);
  assert.throws(() => parseHistory('bad.jsonl', jsonl({ process: 'w', type: 'watch', f: 'poke', key: 'a', revision: 3 }), 'keel'), /line|:1/);
  assert.throws(() => parseHistory('bad.jsonl', jsonl({ process: 1, type: 'ok', f: 'read', key: 'a', value: null, revision: -1 }), 'keel'), /revision must be a non-negative integer/);
});
