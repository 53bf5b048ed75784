import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { AuthorityProbe, H2ProbeError, SERVER_SETTINGS_FRAME } from '../../../src/api/h2/authority-probe.js';
import { FLAG_ACK, FLAG_END_HEADERS, FLAG_END_STREAM, TYPE_CONTINUATION, TYPE_HEADERS, TYPE_PING, TYPE_SETTINGS, frame } from '../../../src/api/h2/frames.js';
import { encodeLiterals } from '../../../src/api/h2/hpack.js';
import { GRPC_PROBE_BYTES_MAX } from '../../../src/api/limits.js';

const TYPE_WINDOW_UPDATE = 0x8;
const TYPE_DATA = 0x0;

const clientSettings = frame(TYPE_SETTINGS, 0, 0, Buffer.from([0, 4, 0, 0x40, 0, 0])); // INITIAL_WINDOW_SIZE
const windowUpdate = frame(TYPE_WINDOW_UPDATE, 0, 0, Buffer.from([0, 0x0f, 0, 1]));
const settingsAck = frame(TYPE_SETTINGS, FLAG_ACK, 0, new Uint8Array(0));
const ping = frame(TYPE_PING, 0, 0, Buffer.from('12345678'));

function requestBlock(authority: string): Uint8Array {
  return encodeLiterals([
    { name: ':method', value: 'POST' },
    { name: ':scheme', value: 'http' },
    { name: ':path', value: '/etcdserverpb.KV/Range' },
    { name: ':authority', value: authority },
    { name: 'content-type', value: 'application/grpc' },
  ]);
}

function headers(authority: string, streamId = 1): Buffer {
  return frame(TYPE_HEADERS, FLAG_END_HEADERS, streamId, requestBlock(authority));
}

const data = frame(TYPE_DATA, FLAG_END_STREAM, 1, Buffer.from([0, 0, 0, 0, 2, 0x0a, 0]));

/** Feeds `bytes` in pieces of `step` bytes until the probe decides; returns the replies. */
function feed(probe: AuthorityProbe, bytes: Buffer, step = bytes.length): Buffer[] {
  const replies: Buffer[] = [];
  for (let offset = 0; offset < bytes.length && probe.decision === undefined; offset += step) replies.push(...probe.push(bytes.subarray(offset, offset + step)));
  return replies;
}

describe('the :authority probe', () => {
  it('answers the preface with a SETTINGS frame that has no settings', () => {
    assert.deepEqual([...SERVER_SETTINGS_FRAME], [0, 0, 0, TYPE_SETTINGS, 0, 0, 0, 0, 0]);
  });

  it('decides direct for a grpc-go-like client (ACK first, then the request) and keeps every frame but the ACK, in order', () => {
    const probe = new AuthorityProbe();
    const replies = feed(probe, Buffer.concat([clientSettings, windowUpdate, settingsAck, headers('127.0.0.1:2379'), data]));
    assert.equal(probe.decision, 'direct');
    assert.deepEqual(replies, []);
    assert.deepEqual(probe.take(), Buffer.concat([clientSettings, windowUpdate, headers('127.0.0.1:2379'), data]));
  });

  it('decides rewrite for an :authority with a slash (etcdctl --endpoints=http://h:p)', () => {
    const probe = new AuthorityProbe();
    feed(probe, Buffer.concat([clientSettings, settingsAck, headers('http://127.0.0.1:2379')]));
    assert.equal(probe.decision, 'rewrite');
    assert.deepEqual(probe.take(), Buffer.concat([clientSettings, headers('http://127.0.0.1:2379')]));
  });

  it('waits for the SETTINGS ACK when the request comes first (a client that does not wait for the server preface)', () => {
    const probe = new AuthorityProbe();
    feed(probe, Buffer.concat([clientSettings, headers('localhost:2379'), data]));
    assert.equal(probe.decision, undefined);
    assert.equal(probe.settingsAcknowledged, false);
    feed(probe, settingsAck);
    assert.equal(probe.decision, 'direct');
    assert.deepEqual(probe.take(), Buffer.concat([clientSettings, headers('localhost:2379'), data]));
  });

  it('decides the same whatever the chunking, down to one byte at a time, and keeps a partial frame after the decision', () => {
    const stream = Buffer.concat([clientSettings, settingsAck, ping, headers('a:1'), headers('b/c', 3)]);
    const partial = stream.subarray(0, stream.length - 3);
    for (const step of [1, 2, 5, 9, 10, 64]) {
      const probe = new AuthorityProbe();
      const replies = feed(probe, partial, step);
      assert.equal(probe.decision, 'direct', `step ${step}`);
      assert.deepEqual(Buffer.concat(replies), frame(TYPE_PING, FLAG_ACK, 0, Buffer.from('12345678')), `step ${step}`);
      // Bytes past the deciding frame are kept as they came, whole frames or not.
      const kept = probe.take();
      assert.deepEqual(kept.subarray(0, clientSettings.length + headers('a:1').length), Buffer.concat([clientSettings, headers('a:1')]), `step ${step}`);
    }
  });

  it('answers PINGs itself and drops them; a second SETTINGS ACK (for grpc-js\'s own SETTINGS) is kept', () => {
    const probe = new AuthorityProbe();
    const replies = feed(probe, Buffer.concat([clientSettings, ping, settingsAck, headers('h:1')]));
    assert.deepEqual(replies, [frame(TYPE_PING, FLAG_ACK, 0, Buffer.from('12345678'))]);
    assert.equal(probe.decision, 'direct');
    assert.deepEqual(probe.take(), Buffer.concat([clientSettings, headers('h:1')]));
  });

  it('reads a first header block split over HEADERS and CONTINUATION', () => {
    const block = Buffer.from(requestBlock('http://h:1'));
    const split = Buffer.concat([frame(TYPE_HEADERS, 0, 1, block.subarray(0, 10)), frame(TYPE_CONTINUATION, FLAG_END_HEADERS, 1, block.subarray(10))]);
    const probe = new AuthorityProbe();
    feed(probe, Buffer.concat([settingsAck, split]));
    assert.equal(probe.decision, 'rewrite');
    assert.deepEqual(probe.take(), split);
  });

  it('leaves a block it cannot decode, or a frame inside a header block, to the rewriter', () => {
    const undecodable = new AuthorityProbe();
    feed(undecodable, Buffer.concat([settingsAck, frame(TYPE_HEADERS, FLAG_END_HEADERS, 1, Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]))]));
    assert.equal(undecodable.decision, 'rewrite');
    const interleaved = new AuthorityProbe();
    feed(interleaved, Buffer.concat([settingsAck, frame(TYPE_HEADERS, 0, 1, Buffer.from(requestBlock('h:1')).subarray(0, 4)), windowUpdate]));
    assert.equal(interleaved.decision, 'rewrite');
  });

  it('cuts a client that sends more than GRPC_PROBE_BYTES_MAX before its first request', () => {
    const probe = new AuthorityProbe();
    const filler = frame(TYPE_WINDOW_UPDATE, 0, 0, Buffer.from([0, 0, 0, 1]));
    assert.throws(
      () => {
        for (let sent = 0; sent <= GRPC_PROBE_BYTES_MAX; sent += filler.length) probe.push(filler);
      },
      (error: unknown) => error instanceof H2ProbeError && error.code === 'KEEL_API_H2_PROBE',
    );
  });

  it('refuses bytes after its decision (they belong to grpc-js)', () => {
    const probe = new AuthorityProbe();
    feed(probe, Buffer.concat([settingsAck, headers('h:1')]));
    assert.throws(() => probe.push(data), (error: unknown) => error instanceof H2ProbeError);
  });
});
