import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WATCH_RESPONSE_MERGED_BYTES_MAX } from '../../src/store/limits.js';
import type { WatchEvent } from '../../src/store/events.js';
import type { WatchResponseData, WatchSink } from '../../src/store/watch-hub.js';
import { WatchSendQueue } from '../../src/store/watch-send-queue.js';
import { bytes } from './helpers.js';

/**
 * WatchSendQueue on its own: a sink that records what it is handed and
 * releases only when told (a gRPC call whose write callback has not fired
 * yet), or at once inside send() (a sink that flushes synchronously).
 */

class RecordingSink implements WatchSink {
  readonly sent: { response: WatchResponseData; bytes: number }[] = [];
  queue!: WatchSendQueue;
  releaseAtOnce = false;
  #held = 0;

  send(response: WatchResponseData, bytes: number): void {
    this.sent.push({ response, bytes });
    if (this.releaseAtOnce) this.queue.released(bytes);
    else this.#held += bytes;
  }

  /** The write callback of what the sink holds fired. */
  release(): void {
    const held = this.#held;
    this.#held = 0;
    this.queue.released(held);
  }

  /** What the client saw, one line per response: "id@revision: revisions" or the notice. */
  lines(): string[] {
    return this.sent.map(({ response }) => {
      const notice = response.created ? ' created' : response.canceled ? ' canceled' : response.events.length === 0 ? ' progress' : '';
      return `${response.watchId}@${response.revision}:${notice}${response.events.map((event) => ` ${event.kv.modRevision}`).join('')}`;
    });
  }
}

function open(): RecordingSink {
  const sink = new RecordingSink();
  sink.queue = new WatchSendQueue(sink);
  return sink;
}

function event(revision: number, valueBytes = 1): WatchEvent {
  return { type: 'PUT', kv: { key: bytes('k'), value: new Uint8Array(valueBytes), createRevision: 2, modRevision: revision, version: revision - 1, lease: 0n } };
}

/** One live batch of one watcher, as WatchStream emits it. */
function events(watchId: bigint, revision: number, valueBytes = 1): WatchResponseData {
  return { watchId, revision, events: [event(revision, valueBytes)] };
}

const BYTES = 100;

test('with the sink free, each response goes at once, unchanged', () => {
  const sink = open();
  sink.releaseAtOnce = true;
  for (let revision = 2; revision < 6; revision++) sink.queue.push(events(0n, revision), BYTES);
  assert.deepEqual(sink.lines(), ['0@2: 2', '0@3: 3', '0@4: 4', '0@5: 5']);
  assert.equal(sink.queue.waiting, 0);
});

test('while the sink holds a response, a watcher\'s events wait and leave as one response with the latest revision', () => {
  const sink = open();
  for (let revision = 2; revision < 7; revision++) sink.queue.push(events(0n, revision), BYTES);
  assert.deepEqual(sink.lines(), ['0@2: 2']);
  assert.equal(sink.queue.waiting, 1);
  sink.release();
  assert.deepEqual(sink.lines(), ['0@2: 2', '0@6: 3 4 5 6']);
  // Its bytes are the sum of what was merged, so the stream's pending bytes balance when the sink releases them.
  assert.equal(sink.sent[1]!.bytes, 4 * BYTES);
  sink.release();
  assert.equal(sink.queue.waiting, 0);
});

test('a sink that releases inside send() gets every waiting response, in order, without recursion', () => {
  const sink = open();
  sink.queue.push(events(0n, 2), BYTES);
  sink.queue.push({ watchId: 1n, revision: 2, created: true, events: [] }, BYTES);
  sink.queue.push(events(0n, 3), BYTES);
  sink.queue.push(events(1n, 3), BYTES);
  sink.releaseAtOnce = true;
  sink.release();
  assert.deepEqual(sink.lines(), ['0@2: 2', '1@2: created', '0@3: 3', '1@3: 3']);
});

test('events never pass a notice of their own watcher: progress, cancel, created', () => {
  const sink = open();
  sink.queue.push(events(0n, 2), BYTES); // with the sink
  sink.queue.push(events(0n, 3), BYTES);
  sink.queue.push({ watchId: 0n, revision: 3, events: [] }, BYTES); // a progress notice
  sink.queue.push(events(0n, 4), BYTES);
  sink.queue.push(events(0n, 5), BYTES);
  sink.queue.push({ watchId: 0n, revision: 5, canceled: true, events: [] }, BYTES);
  sink.queue.push({ watchId: 0n, revision: 5, created: true, events: [] }, BYTES); // the id reused
  sink.queue.push(events(0n, 6), BYTES);
  sink.releaseAtOnce = true;
  sink.release();
  assert.deepEqual(sink.lines(), ['0@2: 2', '0@3: 3', '0@3: progress', '0@5: 4 5', '0@5: canceled', '0@5: created', '0@6: 6']);
});

test('no event passes a stream-wide progress answer (watch id -1); other watchers merge on their own', () => {
  const sink = open();
  sink.queue.push(events(0n, 2), BYTES); // with the sink
  sink.queue.push(events(0n, 3), BYTES);
  sink.queue.push(events(1n, 3), BYTES);
  sink.queue.push(events(0n, 4), BYTES); // joins 0@3, ahead of 1's
  sink.queue.push({ watchId: -1n, revision: 4, events: [] }, BYTES);
  sink.queue.push(events(0n, 5), BYTES);
  sink.queue.push(events(1n, 5), BYTES);
  sink.releaseAtOnce = true;
  sink.release();
  assert.deepEqual(sink.lines(), ['0@2: 2', '0@4: 3 4', '1@3: 3', '-1@4: progress', '0@5: 5', '1@5: 5']);
});

test('fragments keep their place and size: nothing merges into or onto a fragment', () => {
  const sink = open();
  sink.queue.push(events(0n, 2), BYTES); // with the sink
  sink.queue.push({ ...events(0n, 3), fragment: true }, BYTES);
  sink.queue.push(events(0n, 3), BYTES); // the last piece
  sink.queue.push(events(0n, 4), BYTES); // may join the last piece: the fragment set ends there either way
  sink.releaseAtOnce = true;
  sink.release();
  assert.deepEqual(sink.lines(), ['0@2: 2', '0@3: 3', '0@4: 3 4']);
  assert.equal(sink.sent[1]!.response.fragment, true);
  assert.equal(sink.sent[2]!.response.fragment, undefined);
});

test(`a merged response stays within ${WATCH_RESPONSE_MERGED_BYTES_MAX} bytes; the rest starts another`, () => {
  const sink = open();
  const bytesEach = WATCH_RESPONSE_MERGED_BYTES_MAX / 4;
  for (let revision = 2; revision < 12; revision++) sink.queue.push(events(0n, revision, bytesEach), bytesEach);
  sink.releaseAtOnce = true;
  sink.release();
  assert.deepEqual(sink.lines(), ['0@2: 2', '0@6: 3 4 5 6', '0@10: 7 8 9 10', '0@11: 11']);
  for (const { bytes } of sink.sent) assert.ok(bytes <= WATCH_RESPONSE_MERGED_BYTES_MAX);
});

test('merging does not touch the events array the caller passed (a batch\'s events are shared)', () => {
  const sink = open();
  sink.queue.push(events(0n, 2), BYTES); // with the sink
  const shared = events(0n, 3);
  sink.queue.push(shared, BYTES);
  sink.queue.push(events(0n, 4), BYTES);
  assert.deepEqual(shared.events.map((e) => e.kv.modRevision), [3]);
  assert.equal(shared.revision, 3);
});

test('after close, nothing waiting is sent and nothing new is taken', () => {
  const sink = open();
  sink.queue.push(events(0n, 2), BYTES);
  sink.queue.push(events(0n, 3), BYTES);
  sink.queue.close();
  sink.queue.push(events(0n, 4), BYTES);
  sink.release();
  assert.deepEqual(sink.lines(), ['0@2: 2']);
  assert.equal(sink.queue.waiting, 0);
});
