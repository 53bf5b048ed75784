import { ByteReader, ByteWriter, bytesToFill, EncodeError } from '../codec/index.js';
import { InvalidRequestError, decodingAs } from './errors.js';
import { TXN_DEPTH_MAX } from './limits.js';
import { ALARM_TYPES } from './alarms.js';
import type { AlarmRequest } from './alarms.js';
import type { AuthRequest } from './auth-state.js';
import { readAuthRequest, writeAuthRequest } from './auth-state.js';
import type {
  Compare,
  CompareResult,
  CompareTarget,
  CompactionRequest,
  DeleteRangeRequest,
  LeaseGrantRequest,
  LeaseRevokeRequest,
  PutRequest,
  RangeRequest,
  RequestOp,
  SortOrder,
  SortTarget,
  TxnRequest,
} from './types.js';

/**
 * What the log carries to the state machine: one etcd write request.
 * Reads are not commands (they are served from the applied state after a
 * read index). Lease grant/revoke only record leases and delete their keys;
 * expiry and keep-alive belong to the lease module, which proposes revokes.
 */
export type Command = CommandBody & AuthStamp;

/**
 * The auth revision a client write was permission-checked at, on the member
 * that proposed it (etcd's RequestHeader.AuthRevision). apply() refuses a
 * stamped write when auth is on and the auth state has moved past it
 * ("revision of auth store is old"), so a permission revoked between the
 * check and the apply never lets the write through: with equal revisions
 * every member holds exactly the auth state the check used. Unstamped
 * commands (the leader's own lease revokes, logs written before the stamp
 * existed) are not checked.
 */
export interface AuthStamp {
  authRevision?: number;
}

/** The optional stamp as a spreadable field (exactOptionalPropertyTypes: no `authRevision: undefined`). */
export function stamp(authRevision: number | undefined): AuthStamp {
  return authRevision === undefined ? {} : { authRevision };
}

type CommandBody =
  | { type: 'put'; request: PutRequest }
  | { type: 'deleteRange'; request: DeleteRangeRequest }
  | { type: 'txn'; request: TxnRequest }
  | { type: 'compact'; request: CompactionRequest }
  | { type: 'leaseGrant'; request: LeaseGrantRequest }
  | { type: 'leaseRevoke'; request: LeaseRevokeRequest }
  | { type: 'alarm'; request: AlarmRequest }
  /** etcd's auth store changes (auth-state.ts); passwords arrive hashed. */
  | { type: 'auth'; request: AuthRequest };

/**
 * Encoding: a hand-written binary format (codec.ts), chosen over JSON with
 * base64 because it is about half the size for small values, has exactly
 * one encoding per command (so replicas that re-encode agree byte for byte)
 * and needs no dependency. Layout: format byte, command tag, then the
 * fields in declaration order. Tags and enum numbers are etcd's proto
 * numbers where etcd has them; new commands take new tags, never reuse.
 */
const FORMAT = 1;
/** Format 2: an AuthStamp (varuint auth revision) between the format byte and the tag; format 1 entries stay readable. */
const FORMAT_STAMPED = 2;
const COMMAND_TAGS = { put: 1, deleteRange: 2, txn: 3, compact: 4, leaseGrant: 5, leaseRevoke: 6, alarm: 7, auth: 8 } as const;
/** Alarm actions by etcd's AlarmRequest.AlarmAction numbers (GET, 0, is a read and never logged). */
const ALARM_ACTIONS = { activate: 1, deactivate: 2 } as const;
const OP_TAGS = { range: 1, put: 2, deleteRange: 3, txn: 4 } as const;
const SORT_ORDERS: readonly SortOrder[] = ['NONE', 'ASCEND', 'DESCEND'];
const SORT_TARGETS: readonly SortTarget[] = ['KEY', 'VERSION', 'CREATE', 'MOD', 'VALUE'];
const COMPARE_RESULTS: readonly CompareResult[] = ['EQUAL', 'GREATER', 'LESS', 'NOT_EQUAL'];
const COMPARE_TARGETS: readonly CompareTarget[] = ['VERSION', 'CREATE', 'MOD', 'VALUE', 'LEASE'];
const EMPTY = new Uint8Array(0);
/** A command's buffer may keep this many unused bytes rather than be copied to its exact length. */
const FITTED_SPARE_BYTES_MAX = 64;
/** What a command or op encodes besides its keys and values, at most for the small ones (the writer grows past it). */
const OVERHEAD_BYTES = 48;

/**
 * About how many bytes `command` encodes to: its keys and values plus a
 * little. The writer starts at this size, so a 1 MiB value is written into
 * one buffer of about its size instead of one grown to twice that, then
 * copied again to fit. An estimate only: anything it misses just grows the
 * writer, as before.
 */
function encodedBytesHint(command: Command): number {
  switch (command.type) {
    case 'put':
      return OVERHEAD_BYTES + command.request.key.length + command.request.value.length;
    case 'deleteRange':
      return OVERHEAD_BYTES + command.request.key.length + (command.request.rangeEnd?.length ?? 0);
    case 'txn':
      return txnBytesHint(command.request, 0);
    default:
      return OVERHEAD_BYTES;
  }
}

function txnBytesHint(txn: TxnRequest, depth: number): number {
  let total = OVERHEAD_BYTES;
  for (const compare of txn.compare) total += OVERHEAD_BYTES + compare.key.length + (compare.rangeEnd?.length ?? 0) + (compare.value?.length ?? 0);
  for (const ops of [txn.success, txn.failure]) {
    for (const op of ops) {
      if (op.type === 'put') total += OVERHEAD_BYTES + op.request.key.length + op.request.value.length;
      else if (op.type === 'txn') total += depth < TXN_DEPTH_MAX ? txnBytesHint(op.request, depth + 1) : OVERHEAD_BYTES;
      else total += OVERHEAD_BYTES + op.request.key.length + (op.request.rangeEnd?.length ?? 0);
    }
  }
  return total;
}

/**
 * The command's bytes, after `prefix` when one is given (the member's log
 * entry envelope, written into the same buffer so a large value is copied
 * once, not again into the entry).
 */
export function encodeCommand(command: Command, prefix?: Uint8Array): Uint8Array {
  const writer = new ByteWriter((prefix?.length ?? 0) + encodedBytesHint(command));
  if (prefix !== undefined) writer.raw(prefix);
  try {
    if (command.authRevision === undefined) {
      writer.u8(FORMAT);
    } else {
      writer.u8(FORMAT_STAMPED);
      writer.varuint(command.authRevision);
    }
    writer.u8(COMMAND_TAGS[command.type]);
    writeCommandBody(writer, command);
  } catch (error) {
    // A number the format cannot hold came from the request: the caller's error, in the store's terms.
    if (error instanceof EncodeError) throw new InvalidRequestError(error.message);
    throw error;
  }
  return fitted(writer.finish());
}

/**
 * `written` as its own array: the view itself when its buffer has little to
 * spare (a log entry keeps its buffer for as long as the log holds it),
 * else a copy of exactly its length.
 */
function fitted(written: Uint8Array): Uint8Array {
  const spare = written.buffer.byteLength - written.byteLength;
  if (spare <= FITTED_SPARE_BYTES_MAX || spare <= written.byteLength / 16) return written;
  const copy = bytesToFill(written.length);
  copy.set(written);
  return copy;
}

function writeCommandBody(writer: ByteWriter, command: CommandBody): void {
  switch (command.type) {
    case 'put':
      return writePut(writer, command.request);
    case 'deleteRange':
      return writeDeleteRange(writer, command.request);
    case 'txn':
      return writeTxn(writer, command.request);
    case 'compact':
      writer.varint(command.request.revision);
      writer.bool(command.request.physical);
      return;
    case 'leaseGrant':
      writer.i64be(command.request.id);
      writer.varint(command.request.ttlSeconds);
      return;
    case 'leaseRevoke':
      writer.i64be(command.request.id);
      return;
    case 'alarm':
      writer.u8(ALARM_ACTIONS[command.request.action]);
      writer.i64be(BigInt.asIntN(64, command.request.memberId)); // a uint64 in the signed slot, two's complement
      writer.u8(ALARM_TYPES.indexOf(command.request.alarm));
      return;
    case 'auth':
      return writeAuthRequest(writer, command.request);
  }
}

/**
 * Decodes what encodeCommand wrote; every optional field comes back
 * explicit. Keys and values are views into `bytes` (log entries are not
 * modified after they are written); copy them to keep them past a reuse of
 * the buffer. Throws MalformedBytesError.
 */
export function decodeCommand(bytes: Uint8Array): Command {
  return decodingAs('command', () => readCommand(new ByteReader(bytes)));
}

/**
 * True when applying the encoded command does work that grows with the
 * data stored rather than with the request: a DeleteRange over a range
 * (alone, or in either branch of a txn at any depth) and a lease revoke
 * (every key attached). etcdctl check perf ends with one DeleteRange of
 * ~160,000 keys, which holds a member's event loop for 0.15-0.75 s (the
 * member runs raft on the same loop). The member's raft loop uses this to
 * let followers learn such an entry's commit before the leader applies it
 * (RaftLoop, ReadyHost.applyMayStall). Peeks at the tag first, so a put costs
 * no decode and a lease revoke is true on its tag alone; a DeleteRange or
 * txn that cannot be decoded is refused at once by the store: false.
 */
export function commandScalesWithData(bytes: Uint8Array): boolean {
  // The format byte, the auth stamp's varuint if any (7 bits a byte, the high bit set on all but the last), the tag:
  // read in place, no reader allocated, as this runs for every committed entry.
  let position = 1;
  if (bytes[0] === FORMAT_STAMPED) {
    while (position < bytes.length && bytes[position]! >= 0x80) position++;
    position++;
  } else if (bytes[0] !== FORMAT) {
    return false;
  }
  const tag = bytes[position];
  if (tag === COMMAND_TAGS.leaseRevoke) return true;
  if (tag !== COMMAND_TAGS.deleteRange && tag !== COMMAND_TAGS.txn) return false;
  let command: Command;
  try {
    command = decodeCommand(bytes);
  } catch {
    return false;
  }
  if (command.type === 'deleteRange') return (command.request.rangeEnd?.length ?? 0) > 0;
  return command.type === 'txn' && opsScaleWithData([...command.request.success, ...command.request.failure]);
}

function opsScaleWithData(ops: readonly RequestOp[]): boolean {
  for (const op of ops) {
    if (op.type === 'deleteRange' && (op.request.rangeEnd?.length ?? 0) > 0) return true;
    if (op.type === 'txn' && opsScaleWithData([...op.request.success, ...op.request.failure])) return true;
  }
  return false;
}

function readCommand(reader: ByteReader): Command {
  const format = reader.u8();
  if (format !== FORMAT && format !== FORMAT_STAMPED) reader.fail('unknown format');
  const authRevision = format === FORMAT_STAMPED ? reader.varuint() : undefined;
  const command: Command = readCommandBody(reader);
  reader.expectEnd();
  if (authRevision !== undefined) command.authRevision = authRevision;
  return command;
}

function readCommandBody(reader: ByteReader): CommandBody {
  const tag = reader.u8();
  switch (tag) {
    case COMMAND_TAGS.put:
      return { type: 'put', request: readPut(reader) };
    case COMMAND_TAGS.deleteRange:
      return { type: 'deleteRange', request: readDeleteRange(reader) };
    case COMMAND_TAGS.txn:
      return { type: 'txn', request: readTxn(reader, 1) };
    case COMMAND_TAGS.compact:
      return { type: 'compact', request: { revision: reader.varint(), physical: reader.bool() } };
    case COMMAND_TAGS.leaseGrant:
      return { type: 'leaseGrant', request: { id: reader.i64be(), ttlSeconds: reader.varint() } };
    case COMMAND_TAGS.leaseRevoke:
      return { type: 'leaseRevoke', request: { id: reader.i64be() } };
    case COMMAND_TAGS.alarm:
      return { type: 'alarm', request: readAlarm(reader) };
    case COMMAND_TAGS.auth:
      return { type: 'auth', request: readAuthRequest(reader) };
    default:
      return reader.fail(`unknown command tag ${tag}`);
  }
}

function readAlarm(reader: ByteReader): AlarmRequest {
  const actionNumber = reader.u8();
  const action = actionNumber === ALARM_ACTIONS.activate ? 'activate' : actionNumber === ALARM_ACTIONS.deactivate ? 'deactivate' : reader.fail('bad alarm action');
  const memberId = BigInt.asUintN(64, reader.i64be());
  const alarm = ALARM_TYPES[reader.u8()] ?? reader.fail('bad alarm type');
  return { action, memberId, alarm };
}

function writePut(writer: ByteWriter, request: PutRequest): void {
  writer.bytesWithVaruintLength(request.key);
  writer.bytesWithVaruintLength(request.value);
  writer.i64be(request.lease ?? 0n);
  writer.u8((request.prevKv ? 1 : 0) | (request.ignoreValue ? 2 : 0) | (request.ignoreLease ? 4 : 0));
}

function readPut(reader: ByteReader): PutRequest {
  const key = reader.bytesWithVaruintLength();
  const value = reader.bytesWithVaruintLength();
  const lease = reader.i64be();
  const flags = reader.u8();
  if (flags > 7) reader.fail('bad put flags');
  return { key, value, lease, prevKv: (flags & 1) !== 0, ignoreValue: (flags & 2) !== 0, ignoreLease: (flags & 4) !== 0 };
}

function writeDeleteRange(writer: ByteWriter, request: DeleteRangeRequest): void {
  writer.bytesWithVaruintLength(request.key);
  writer.bytesWithVaruintLength(request.rangeEnd ?? EMPTY);
  writer.bool(request.prevKv);
}

function readDeleteRange(reader: ByteReader): DeleteRangeRequest {
  return { key: reader.bytesWithVaruintLength(), rangeEnd: reader.bytesWithVaruintLength(), prevKv: reader.bool() };
}

function writeRange(writer: ByteWriter, request: RangeRequest): void {
  writer.bytesWithVaruintLength(request.key);
  writer.bytesWithVaruintLength(request.rangeEnd ?? EMPTY);
  writer.varint(request.limit ?? 0);
  writer.varint(request.revision ?? 0);
  writer.u8(SORT_ORDERS.indexOf(request.sortOrder ?? 'NONE'));
  writer.u8(SORT_TARGETS.indexOf(request.sortTarget ?? 'KEY'));
  writer.u8((request.keysOnly ? 1 : 0) | (request.countOnly ? 2 : 0));
  writer.varint(request.minModRevision ?? 0);
  writer.varint(request.maxModRevision ?? 0);
  writer.varint(request.minCreateRevision ?? 0);
  writer.varint(request.maxCreateRevision ?? 0);
}

function readRange(reader: ByteReader): RangeRequest {
  const key = reader.bytesWithVaruintLength();
  const rangeEnd = reader.bytesWithVaruintLength();
  const limit = reader.varint();
  const revision = reader.varint();
  const sortOrder = SORT_ORDERS[reader.u8()] ?? reader.fail('bad sort order');
  const sortTarget = SORT_TARGETS[reader.u8()] ?? reader.fail('bad sort target');
  const flags = reader.u8();
  if (flags > 3) reader.fail('bad range flags');
  return {
    key,
    rangeEnd,
    limit,
    revision,
    sortOrder,
    sortTarget,
    keysOnly: (flags & 1) !== 0,
    countOnly: (flags & 2) !== 0,
    minModRevision: reader.varint(),
    maxModRevision: reader.varint(),
    minCreateRevision: reader.varint(),
    maxCreateRevision: reader.varint(),
  };
}

function writeCompare(writer: ByteWriter, compare: Compare): void {
  writer.u8(COMPARE_RESULTS.indexOf(compare.result));
  writer.u8(COMPARE_TARGETS.indexOf(compare.target));
  writer.bytesWithVaruintLength(compare.key);
  writer.bytesWithVaruintLength(compare.rangeEnd ?? EMPTY);
  switch (compare.target) {
    case 'VALUE':
      writer.bytesWithVaruintLength(compare.value ?? EMPTY);
      return;
    case 'LEASE':
      writer.i64be(compare.lease ?? 0n);
      return;
    case 'VERSION':
      writer.varint(compare.version ?? 0);
      return;
    case 'CREATE':
      writer.varint(compare.createRevision ?? 0);
      return;
    case 'MOD':
      writer.varint(compare.modRevision ?? 0);
      return;
  }
}

function readCompare(reader: ByteReader): Compare {
  const result = COMPARE_RESULTS[reader.u8()] ?? reader.fail('bad compare result');
  const target = COMPARE_TARGETS[reader.u8()] ?? reader.fail('bad compare target');
  const key = reader.bytesWithVaruintLength();
  const rangeEnd = reader.bytesWithVaruintLength();
  const compare: Compare = { result, target, key, rangeEnd };
  switch (target) {
    case 'VALUE':
      compare.value = reader.bytesWithVaruintLength();
      break;
    case 'LEASE':
      compare.lease = reader.i64be();
      break;
    case 'VERSION':
      compare.version = reader.varint();
      break;
    case 'CREATE':
      compare.createRevision = reader.varint();
      break;
    case 'MOD':
      compare.modRevision = reader.varint();
      break;
  }
  return compare;
}

function writeTxn(writer: ByteWriter, request: TxnRequest): void {
  writer.varuint(request.compare.length);
  for (const compare of request.compare) writeCompare(writer, compare);
  for (const ops of [request.success, request.failure]) {
    writer.varuint(ops.length);
    for (const op of ops) writeOp(writer, op);
  }
}

function readTxn(reader: ByteReader, depth: number): TxnRequest {
  if (depth > TXN_DEPTH_MAX) reader.fail(`txn nested deeper than ${TXN_DEPTH_MAX}`);
  const compare: Compare[] = [];
  for (let count = reader.varuint(); count > 0; count--) compare.push(readCompare(reader));
  const success = readOps(reader, depth);
  const failure = readOps(reader, depth);
  return { compare, success, failure };
}

function readOps(reader: ByteReader, depth: number): RequestOp[] {
  const ops: RequestOp[] = [];
  for (let count = reader.varuint(); count > 0; count--) ops.push(readOp(reader, depth));
  return ops;
}

function writeOp(writer: ByteWriter, op: RequestOp): void {
  writer.u8(OP_TAGS[op.type]);
  switch (op.type) {
    case 'range':
      return writeRange(writer, op.request);
    case 'put':
      return writePut(writer, op.request);
    case 'deleteRange':
      return writeDeleteRange(writer, op.request);
    case 'txn':
      return writeTxn(writer, op.request);
  }
}

function readOp(reader: ByteReader, depth: number): RequestOp {
  const tag = reader.u8();
  switch (tag) {
    case OP_TAGS.range:
      return { type: 'range', request: readRange(reader) };
    case OP_TAGS.put:
      return { type: 'put', request: readPut(reader) };
    case OP_TAGS.deleteRange:
      return { type: 'deleteRange', request: readDeleteRange(reader) };
    case OP_TAGS.txn:
      return { type: 'txn', request: readTxn(reader, depth + 1) };
    default:
      return reader.fail(`unknown op tag ${tag}`);
  }
}
