import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AttemptTimeoutError, ConnectionError, type CompareAndSwapResult, DeadlineExceededError, type KeyValue, type PutResult } from '../../src/client/index.js';
import { checkHistory, parseHistory } from '../../src/check/index.js';
import { HistoryRecorder, type RecordedClient, writeOutcome } from '../../src/check/recorder.js';
import { seededRandom } from '../../src/check/simulate.js';

/**
 * A documented fake of KeelClient's put/get/compareAndSwap: one in-memory
 * map; each call waits a random number of event-loop turns before and after
 * it takes effect, so concurrent calls overlap, and it takes effect
 * atomically (linearizable by construction). `fault` can make a call throw
 * before taking effect (nothing sent) or after (sent, reply lost); `stale`
 * makes reads return the value before the latest write.
 */
class FakeKeel implements RecordedClient {
  readonly #values = new Map<string, { value: string; previous: string | undefined; revision: number }>();
  #revision = 0;
  readonly #random: () => number;
  fault: ((call: number) => 'before' | 'after' | undefined) | undefined;
  stale = false;
  #calls = 0;

  constructor(seed: number) {
    this.#random = seededRandom(seed);
  }

  async #turns(): Promise<void> {
    const turns = Math.floor(this.#random() * 4);
    for (let turn = 0; turn < turns; turn += 1) await new Promise((resolve) => setImmediate(resolve));
  }

  async #apply<T>(effect: () => T): Promise<T> {
    this.#calls += 1;
    const fault = this.fault?.(this.#calls);
    await this.#turns();
    if (fault === 'before') throw new ConnectionError(false, new Error('ECONNREFUSED'));
    const result = effect();
    await this.#turns();
    if (fault === 'after') throw new ConnectionError(true, new Error('socket hang up'));
    return result;
  }

  #kv(key: string, value: string): KeyValue {
    return { key: Buffer.from(key), value: Buffer.from(value), createRevision: 1, modRevision: this.#revision, version: 1, lease: '0' };
  }

  async put(key: string, value: string): Promise<PutResult> {
    return this.#apply(() => {
      this.#revision += 1;
      this.#values.set(key, { value, previous: this.#values.get(key)?.value, revision: this.#revision });
      return { header: { clusterId: '1', memberId: '1', revision: this.#revision, raftTerm: 1 }, prevKv: undefined } as unknown as PutResult;
    });
  }

  async get(key: string): Promise<KeyValue | undefined> {
    return this.#apply(() => {
      const entry = this.#values.get(key);
      const value = this.stale ? entry?.previous : entry?.value;
      return value === undefined ? undefined : this.#kv(key, value);
    });
  }

  async compareAndSwap(key: string, expected: string | number, newValue: string): Promise<CompareAndSwapResult> {
    return this.#apply(() => {
      const entry = this.#values.get(key);
      const matches = typeof expected === 'number' ? (expected === 0 ? entry === undefined : entry?.revision === expected) : entry?.value === expected;
      if (!matches) return { succeeded: false, revision: this.#revision, current: entry === undefined ? undefined : this.#kv(key, entry.value) };
      this.#revision += 1;
      this.#values.set(key, { value: newValue, previous: entry?.value, revision: this.#revision });
      return { succeeded: true, revision: this.#revision, current: undefined };
    });
  }
}

async function workload(client: RecordedClient, clients: number, operationsPerClient: number, seed: number): Promise<string[]> {
  const lines: string[] = [];
  const random = seededRandom(seed);
  await Promise.all(Array.from({ length: clients }, async (_, clientId) => {
    const recorder = new HistoryRecorder({ client, clientId, sink: (line) => lines.push(line) });
    let lastSeen: string | null = null;
    for (let index = 0; index < operationsPerClient; index += 1) {
      const choice = random();
      try {
        if (choice < 0.5) lastSeen = await recorder.read('k');
        else if (choice < 0.8) await recorder.write('k');
        else await recorder.cas('k', lastSeen);
      } catch {
        // Recorded as fail or info; the workload goes on.
      }
    }
  }));
  return lines;
}

test('recorded histories of a linearizable fake check ok, with unique values and monotonic times', async () => {
  const fake = new FakeKeel(1);
  fake.fault = (call) => (call % 17 === 0 ? 'after' : call % 23 === 0 ? 'before' : undefined);
  const lines = await workload(fake, 8, 60, 2);
  const history = parseHistory('recorded.jsonl', lines.join('\n'), 'keel');
  const writes = history.operations.filter((operation) => operation.f === 'write').map((operation) => operation.value);
  assert.equal(new Set(writes).size, writes.length, 'written values are unique');
  assert.ok(history.operations.some((operation) => operation.type === 'info'), 'lost replies are unknown');
  const result = checkHistory(history);
  assert.equal(result.verdict, 'ok');
  assert.equal(result.methods['unique-values'], 1, 'unique values take the fast path');
});

test('a fake serving stale reads is caught', async () => {
  const fake = new FakeKeel(3);
  fake.stale = true;
  const lines = await workload(fake, 4, 60, 4);
  assert.equal(checkHistory(parseHistory('stale.jsonl', lines.join('\n'), 'keel')).verdict, 'violation');
});

test('a write that may have applied is info and moves the recorder to a new process; one that surely did not is fail', async () => {
  const fake = new FakeKeel(5);
  const lines: string[] = [];
  let time = 0;
  const recorder = new HistoryRecorder({ client: fake, clientId: 7, sink: (line) => lines.push(line), clock: () => (time += 10) });
  fake.fault = () => 'before';
  await assert.rejects(recorder.write('k'));
  assert.equal(recorder.process, 7);
  fake.fault = () => 'after';
  await assert.rejects(recorder.cas('k', null));
  assert.equal(recorder.process, 1007);
  fake.fault = undefined;
  const value = await recorder.write('k');
  assert.equal(value, '7-3');
  assert.equal(await recorder.read('k'), '7-3');
  const events = lines.map((line) => JSON.parse(line) as { process: number; type: string; f: string; value: unknown; time: number });
  assert.deepEqual(events.map((event) => [event.process, event.type, event.f]), [
    [7, 'invoke', 'write'], [7, 'fail', 'write'], [7, 'invoke', 'cas'], [7, 'info', 'cas'], [1007, 'invoke', 'write'], [1007, 'ok', 'write'], [1007, 'invoke', 'read'], [1007, 'ok', 'read'],
  ]);
  assert.deepEqual(events[2]?.value, [null, '7-2']);
  assert.deepEqual(events.map((event) => event.time), [10, 20, 30, 40, 50, 60, 70, 80]);
});

test('the outcome of a failed write follows the client classification', () => {
  assert.equal(writeOutcome(new ConnectionError(false, new Error('refused'))), 'fail');
  assert.equal(writeOutcome(new ConnectionError(true, new Error('reset'))), 'info');
  assert.equal(writeOutcome(new AttemptTimeoutError(100)), 'info');
  const deadline = new DeadlineExceededError(1000, 2, undefined);
  deadline.mayHaveApplied = true;
  assert.equal(writeOutcome(deadline), 'info');
  assert.equal(writeOutcome(new DeadlineExceededError(1000, 1, undefined)), 'fail');
  assert.equal(writeOutcome(new Error('something else')), 'info');
});

test('a recorder is one process: a second concurrent operation is refused', async () => {
  const recorder = new HistoryRecorder({ client: new FakeKeel(9), clientId: 1, sink: () => undefined });
  const first = recorder.read('k');
  await assert.rejects(recorder.read('k'), { code: 'KEEL_CHECK_USAGE' });
  await first;
  assert.throws(() => new HistoryRecorder({ client: new FakeKeel(9), clientId: 1000, sink: () => undefined }), { code: 'KEEL_CHECK_USAGE' });
});
