import { Decoder, Encoder } from '@msgpack/msgpack';
import { MessageType, type ConfState, type Entry, type Message, type NodeId, type SnapshotMetadata } from '../raft/types.js';
import { FrameMalformedError } from './errors.js';
import { ENTRIES_PER_MESSAGE_MAX, ID_LENGTH_MAX, MEMBERS_MAX, PROTOCOL_VERSION } from './limits.js';
import { encodeMessageParts, MESSAGE_FIELD_COUNT } from './message-encoder.js';

/**
 * Frame bodies as msgpack arrays (positional, so the field order below is
 * the wire format of PROTOCOL_VERSION; change it only with a new version).
 * Decoding validates every field: a frame that decodes is a well-typed
 * message, and anything else is a FrameMalformedError. Binary fields come
 * back as plain Uint8Arrays (copied out of socket memory, so a retained entry
 * does not pin a socket buffer).
 */

// @msgpack/msgpack rather than msgpackr: pure JavaScript, and no optional
// native packages (msgpackr-extract's per-platform packages are not served
// by every registry mirror, which leaves `npm ci` with an unusable lock file).
const encoder = new Encoder({ ignoreUndefined: true });
const decoder = new Decoder();

/** Encodes to a Buffer view of the encoder's output (no copy). */
function pack(value: unknown): Buffer {
  const bytes = encoder.encode(value);
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

const HELLO_MAGIC = 'keel';

/** Message types that travel between nodes; the rest are local to a node. */
export const NETWORK_MESSAGE_TYPES: ReadonlySet<number> = new Set([
  MessageType.Propose,
  MessageType.Append,
  MessageType.AppendResponse,
  MessageType.Vote,
  MessageType.VoteResponse,
  MessageType.PreVote,
  MessageType.PreVoteResponse,
  MessageType.Heartbeat,
  MessageType.HeartbeatResponse,
  MessageType.Snapshot,
  MessageType.ReadIndex,
  MessageType.ReadIndexResponse,
  MessageType.TimeoutNow,
  MessageType.TransferLeader,
]);

export interface Hello {
  readonly version: number;
  readonly clusterId: string;
  readonly from: NodeId;
  readonly to: NodeId;
}

export function encodeHello(hello: Omit<Hello, 'version'>): Buffer {
  return pack([HELLO_MAGIC, PROTOCOL_VERSION, hello.clusterId, hello.from, hello.to]);
}

export function decodeHello(body: Buffer): Hello {
  const fields = unpackArray(body, 5, 'hello');
  if (fields[0] !== HELLO_MAGIC) throw new FrameMalformedError('hello: not a keel peer');
  return {
    version: integer(fields[1], 'hello.version'),
    clusterId: id(fields[2], 'hello.clusterId', true),
    from: id(fields[3], 'hello.from', false),
    to: id(fields[4], 'hello.to', false),
  };
}

export interface HelloAnswer {
  readonly accepted: boolean;
  /** Empty when accepted; a HandshakeRejectReason otherwise. */
  readonly reason: string;
}

export function encodeHelloAnswer(answer: HelloAnswer): Buffer {
  return pack([answer.accepted, answer.reason]);
}

export function decodeHelloAnswer(body: Buffer): HelloAnswer {
  const fields = unpackArray(body, 2, 'hello answer');
  return { accepted: boolean(fields[0], 'answer.accepted'), reason: id(fields[1], 'answer.reason', true) };
}

/** A ping or pong body: the dialer's clock reading when it sent the ping, echoed back. */
export function encodePing(sentAtMs: number): Buffer {
  return pack([sentAtMs]);
}

export function decodePing(body: Buffer): number {
  const value = unpackArray(body, 1, 'ping')[0];
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new FrameMalformedError('ping: time is not a number');
  return value;
}

/**
 * A message other than Snapshot (its snapshot field, if any, is not
 * encoded), in one buffer. The transport sends {@link encodeMessageParts}'
 * parts as they are instead; this joins them.
 */
export function encodeMessage(message: Message): Buffer {
  const { parts, bytes } = encodeMessageParts(message);
  return Buffer.concat(parts, bytes);
}

export function decodeMessage(body: Buffer): Message {
  return messageFromFields(unpackArray(body, MESSAGE_FIELDS, 'message'));
}

/** msgpack's header of an array of three. */
const ARRAY_OF_THREE = Buffer.from([0x93]);

/**
 * A Snapshot message's header: the message, the snapshot's metadata and its
 * data length, as a msgpack array of the three. The message is written by
 * message-encoder.ts (the one place that holds a message's wire fields),
 * after the array's header; the same bytes as an encoder given the array.
 */
export function encodeSnapshotBegin(message: Message): Buffer {
  const snapshot = message.snapshot!;
  const { index, term, confState } = snapshot.metadata;
  return Buffer.concat([ARRAY_OF_THREE, encodeMessage(message), pack([index, term, confState.voters, confState.learners]), pack(snapshot.data.length)]);
}

export interface SnapshotBegin {
  /** The message without `snapshot`. */
  readonly message: Message;
  readonly metadata: SnapshotMetadata;
  readonly dataBytes: number;
}

export function decodeSnapshotBegin(body: Buffer): SnapshotBegin {
  const fields = unpackArray(body, 3, 'snapshot begin');
  const message = messageFromFields(array(fields[0], MESSAGE_FIELDS, 'snapshot.message'));
  if (message.type !== MessageType.Snapshot) throw new FrameMalformedError('snapshot begin: message is not a Snapshot');
  const meta = array(fields[1], 4, 'snapshot.metadata');
  const confState: ConfState = { voters: ids(meta[2], 'snapshot.voters'), learners: ids(meta[3], 'snapshot.learners') };
  const metadata = { index: integer(meta[0], 'snapshot.index'), term: integer(meta[1], 'snapshot.term'), confState };
  return { message, metadata, dataBytes: integer(fields[2], 'snapshot.dataBytes') };
}

const MESSAGE_FIELDS = MESSAGE_FIELD_COUNT;

function messageFromFields(f: unknown[]): Message {
  const type = integer(f[0], 'type');
  if (!NETWORK_MESSAGE_TYPES.has(type)) throw new FrameMalformedError(`message type ${type} does not travel between nodes`);
  const message: Record<string, unknown> = {
    type,
    from: id(f[1], 'from', false),
    to: id(f[2], 'to', false),
    term: integer(f[3], 'term'),
    logTerm: integer(f[4], 'logTerm'),
    index: integer(f[5], 'index'),
    entries: entries(f[10]),
    commit: integer(f[6], 'commit'),
    reject: boolean(f[7], 'reject'),
    rejectHint: integer(f[8], 'rejectHint'),
    logTermHint: integer(f[9], 'logTermHint'),
  };
  if (f[11] !== null) message.context = bytes(f[11], 'context');
  return message as unknown as Message;
}

function entries(value: unknown): Entry[] {
  if (!Array.isArray(value) || value.length > ENTRIES_PER_MESSAGE_MAX) throw new FrameMalformedError('entries: not a bounded array');
  const result: Entry[] = new Array(value.length);
  for (let i = 0; i < value.length; i++) {
    const fields = array(value[i], 4, 'entry');
    const type = integer(fields[2], 'entry.type');
    if (type !== 0 && type !== 1) throw new FrameMalformedError(`entry type ${type} unknown`);
    result[i] = { term: integer(fields[0], 'entry.term'), index: integer(fields[1], 'entry.index'), type, data: bytes(fields[3], 'entry.data') };
  }
  return result;
}

function unpackArray(body: Buffer, length: number, what: string): unknown[] {
  let value: unknown;
  try {
    value = decoder.decode(body);
  } catch (error) {
    throw new FrameMalformedError(`${what}: ${(error as Error).message}`);
  }
  return array(value, length, what);
}

function array(value: unknown, length: number, what: string): unknown[] {
  if (!Array.isArray(value) || value.length !== length) throw new FrameMalformedError(`${what}: expected an array of ${length}`);
  return value;
}

function integer(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw new FrameMalformedError(`${what}: not a non-negative integer`);
  return value;
}

function boolean(value: unknown, what: string): boolean {
  if (typeof value !== 'boolean') throw new FrameMalformedError(`${what}: not a boolean`);
  return value;
}

function id(value: unknown, what: string, emptyAllowed: boolean): string {
  if (typeof value !== 'string' || value.length > ID_LENGTH_MAX || (!emptyAllowed && value.length === 0)) {
    throw new FrameMalformedError(`${what}: not an id`);
  }
  return value;
}

function ids(value: unknown, what: string): NodeId[] {
  if (!Array.isArray(value) || value.length > MEMBERS_MAX) throw new FrameMalformedError(`${what}: not a bounded array`);
  return value.map((item) => id(item, what, false));
}

/**
 * Binary out of the frame as a plain Uint8Array: a copy of exactly its
 * size, so a small field does not keep the whole frame alive; from
 * {@link SHARED_BYTES_MIN} on, a view of the frame instead (see there for
 * how long that keeps the frame). A 1 MiB entry was copied into fresh
 * memory here on every follower, a page fault per 4 KiB. The frame's buffer
 * is its own (socket reads and Buffer.concat allocate anew) and never
 * written again.
 */
function bytes(value: unknown, what: string): Uint8Array {
  if (!(value instanceof Uint8Array)) throw new FrameMalformedError(`${what}: not binary`);
  if (value.length >= SHARED_BYTES_MIN) return new Uint8Array(value.buffer, value.byteOffset, value.length);
  return new Uint8Array(value);
}

/**
 * Binary fields this large are views of their frame rather than copies (see
 * bytes()). 1 KiB, where it was 64 KiB: a follower catching up after a
 * restart copied every 13 KB txn entry of bench:scale's fill B into memory
 * of its own, the top JavaScript frame of its longest busy stretch in a
 * `--cpu-prof` run (`npx tsx bench/scale.ts --only keel --quota-mib 1024
 * --fill-a-ratio 0.1 "--keel-node-args=--cpu-prof ..."`), each copy a new
 * backing store for V8 to count and free. A frame stays alive while any
 * entry viewing it does; entries leave the log in order once applied
 * (MemoryStorage.spill), and the store copies what it keeps, so that is at
 * most a frame beyond the log's cache.
 */
export const SHARED_BYTES_MIN = 1024;
