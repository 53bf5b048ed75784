/**
 * The peer transport's message codec, in one process: microseconds to
 * encode and to decode a heartbeat and Appends of small, txn-sized and
 * 1 MiB entries. Encoding: keel's encoder (src/transport/message-encoder.ts,
 * large entries referenced, not copied) against the anchor, @msgpack/msgpack's
 * Encoder over the same fields, which is what the transport used before and
 * gives the same bytes (each encode returns a copy of its output, as the
 * transport needed). Decoding: keel's decodeMessage (which checks every field
 * and takes entries of SHARED_BYTES_MIN or more as views of the frame)
 * against @msgpack/msgpack's plain decode of the same body.
 * Usage: npx tsx bench/transport-codec.ts [rounds=3]
 */
import { Decoder, Encoder } from '@msgpack/msgpack';
import { message, MessageType, type Entry, type Message } from '../src/raft/types.js';
import { decodeMessage, encodeMessage, SHARED_BYTES_MIN } from '../src/transport/codec.js';
import { encodeMessageParts } from '../src/transport/message-encoder.js';
import { markdownTable } from './lib/table.js';

const rounds = Math.max(1, Math.floor(Number(process.argv[2] ?? 3)));
const MIB = 1024 * 1024;

function append(count: number, bytes: number): Message {
  const entries: Entry[] = Array.from({ length: count }, (_, i) => ({ term: 5, index: 1001 + i, type: 0, data: new Uint8Array(bytes).fill(i) }));
  return message({ type: MessageType.Append, from: 'n1', to: 'n2', term: 5, index: 1000, logTerm: 5, commit: 999, entries });
}

const cases: [string, Message][] = [
  ['heartbeat', message({ type: MessageType.Heartbeat, from: 'n1', to: 'n2', term: 5, commit: 123_456 })],
  ['append, 10 entries of 100 B', append(10, 100)],
  ['append, 64 entries of 13 KB (fill B txns)', append(64, 13_000)],
  ['append, 1 entry of 1 MiB (fill A put)', append(1, MIB)],
];

const anchorEncoder = new Encoder({ ignoreUndefined: true });
function anchorEncode(m: Message): Uint8Array {
  const entries = m.entries.map((entry) => [entry.term, entry.index, entry.type, entry.data]);
  return anchorEncoder.encode([m.type, m.from, m.to, m.term, m.logTerm, m.index, m.commit, m.reject, m.rejectHint, m.logTermHint, entries, m.context ?? null]);
}
const anchorDecoder = new Decoder();

/** Microseconds per call, over about 200 ms of calls after a warm-up; the best of `rounds`. */
function microseconds(run: () => unknown): number {
  let calls = 1;
  const warm = performance.now();
  while (performance.now() - warm < 50) {
    for (let i = 0; i < calls; i++) run();
    calls *= 2;
  }
  let best = Infinity;
  for (let round = 0; round < rounds; round++) {
    let done = 0;
    const start = performance.now();
    while (performance.now() - start < 200) {
      for (let i = 0; i < 64; i++) run();
      done += 64;
    }
    best = Math.min(best, ((performance.now() - start) * 1000) / done);
  }
  return best;
}

const rows: string[][] = [];
for (const [name, m] of cases) {
  const body = encodeMessage(m);
  if (!Buffer.from(anchorEncode(m)).equals(body)) throw new Error(`${name}: the encoders disagree`);
  const keelEncode = microseconds(() => encodeMessageParts(m));
  const msgpackEncode = microseconds(() => anchorEncode(m));
  const keelDecode = microseconds(() => decodeMessage(body));
  const msgpackDecode = microseconds(() => anchorDecoder.decode(body));
  rows.push([name, keelEncode.toFixed(2), msgpackEncode.toFixed(2), `${(keelEncode / msgpackEncode).toFixed(2)}x`, keelDecode.toFixed(2), msgpackDecode.toFixed(2), `${(keelDecode / msgpackDecode).toFixed(2)}x`]);
}

console.log(`transport codec, µs per message, best of ${rounds} rounds of 200 ms; entries of ${SHARED_BYTES_MIN} bytes or more decode as views; node ${process.version}`);
console.log(markdownTable(['message', 'keel encode', '@msgpack/msgpack encode', 'ratio', 'keel decode (checked)', '@msgpack/msgpack decode', 'ratio'], rows));
