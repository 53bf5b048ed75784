import type { ByteString } from './bytes.js';
import { toByteString } from './bytes.js';
import { ByteReader, ByteWriter, DecodeError } from '../codec/index.js';
import { assert } from './assert.js';
import { decodingAs } from './errors.js';
import { Crc32c } from './hash.js';
import { REVISION_MAX } from './limits.js';
import type { RecordCursor } from './key-order-capture.js';
import { KvRecord } from './record.js';
import { compareRevisions } from './revision.js';
import type { Lease } from './types.js';
import type { AlarmMember } from './alarms.js';
import { ALARM_TYPES, compareAlarms } from './alarms.js';
import type { AuthSnapshot } from './auth-state.js';
import { readAuthSnapshot, writeAuthSnapshot } from './auth-state.js';

/** Everything a snapshot holds: the applied index travels with the data it produced. */
export interface SnapshotState {
  appliedIndex: number;
  currentRevision: number;
  compactRevision: number;
  /** Ascending by id. */
  leases: Lease[];
  /** Active alarms, in canonical order (alarms.ts). */
  alarms: AlarmMember[];
  /** The auth store (format 3 only); undefined when it is as on a fresh store. */
  auth?: AuthSnapshot | undefined;
  /**
   * Every retained record, by key then revision (the order restore rebuilds
   * the key index in without sorting keys): an array, or a cursor the
   * encoder pulls them from (a store's capture, KvStore.captureByKey). A
   * cursor is read once: a state holding one is encoded once.
   */
  records: readonly KvRecord[] | RecordCursor;
}

/** Lets go of what a captured state holds (a store's capture keeps copying what compactions rewrite until then). Idempotent. */
export function releaseSnapshotState(state: SnapshotState): void {
  if (!isArray(state.records)) state.records.release();
}

function isArray(records: readonly KvRecord[] | RecordCursor): records is readonly KvRecord[] {
  return Array.isArray(records);
}

/** An array's records as a cursor. */
class ArrayCursor implements RecordCursor {
  readonly #records: readonly KvRecord[];
  #next = 0;

  constructor(records: readonly KvRecord[]) {
    this.#records = records;
  }

  get length(): number {
    return this.#records.length;
  }

  next(): KvRecord | undefined {
    return this.#records[this.#next++];
  }

  release(): void {
    this.#next = this.#records.length;
  }
}

/**
 * Layout: magic "KEELKV", format byte, the three counters, the leases,
 * (format 2 only) the alarms, the records by key then revision (a tombstone
 * has version 0 and no value, create revision or lease), then a CRC-32C of
 * everything before it. The encoding is canonical, so equal states give
 * equal bytes.
 *
 * Format 2 adds the alarms (member id as a two's-complement i64, alarm type
 * by etcd's number). A state without alarms is still written as format 1,
 * byte for byte what earlier versions wrote, so snapshots from a cluster
 * that never raised an alarm stay readable by those versions (a rolling
 * upgrade can still be rolled back); both formats are read.
 *
 * Format 3 adds the auth store after the alarms (which it always carries),
 * written only when the auth state is not a fresh one's, for the same reason.
 */
const MAGIC = [0x4b, 0x45, 0x45, 0x4c, 0x4b, 0x56];
const FORMAT_WITHOUT_ALARMS = 1;
const FORMAT_WITH_ALARMS = 2;
const FORMAT_WITH_AUTH = 3;

export function encodeSnapshot(state: SnapshotState): Uint8Array {
  const chunk = new SnapshotEncoder(state).next(Number.POSITIVE_INFINITY);
  assert(chunk !== undefined, 'encodeSnapshot: the encoder returned nothing');
  return chunk;
}

/**
 * Encodes a captured state piece by piece: the chunks `next()` returns, in
 * order, are byte for byte what {@link encodeSnapshot} returns. A member
 * writes each chunk to disk before asking for the next, so a large state is
 * never one buffer and the event loop runs between chunks. The state must
 * not change meanwhile: a {@link SnapshotState} from the state machine's
 * `captureSnapshot()` walks the store as it was when captured
 * (KeyOrderCapture), and the caller releases it if it stops early
 * ({@link releaseSnapshotState}).
 */
export class SnapshotEncoder {
  readonly #state: SnapshotState;
  readonly #records: RecordCursor;
  readonly #crc = new Crc32c();
  /** Records written; -1 until the header is written. */
  #written = -1;
  #done = false;
  /** The buffer chunks are encoded into, reused from one chunk to the next. */
  #writer: ByteWriter | undefined;

  constructor(state: SnapshotState) {
    this.#state = state;
    this.#records = isArray(state.records) ? new ArrayCursor(state.records) : state.records;
  }

  /** Records written so far (for progress logs and tests). */
  get recordsWritten(): number {
    return Math.max(0, this.#written);
  }

  /**
   * The next chunk: whole records until it holds at least `chunkBytes` (one
   * record larger than that makes a larger chunk), the checksum after the
   * last record. Undefined once every byte was returned. A chunk is a view
   * of the encoder's buffer, valid until the next call (copy it to keep it):
   * reusing one buffer spares a fresh allocation, and its page faults, per
   * chunk.
   */
  next(chunkBytes: number): Uint8Array | undefined {
    if (this.#done) return undefined;
    const state = this.#state;
    const writer = this.#writerFor(chunkBytes);
    if (this.#written < 0) {
      writeHeader(writer, state, this.#records.length);
      this.#written = 0;
    }
    const records = this.#records;
    while (this.#written < records.length && writer.length < chunkBytes) {
      const record = records.next();
      assert(record !== undefined, `SnapshotEncoder: the records ended at ${this.#written} of ${records.length}`);
      writeRecord(writer, record);
      this.#written++;
    }
    this.#crc.bytes(writer.finish());
    if (this.#written === records.length) {
      assert(records.next() === undefined, `SnapshotEncoder: more than the ${records.length} records counted`);
      writer.u32be(this.#crc.value);
      this.#done = true;
    }
    return writer.finish();
  }

  #writerFor(chunkBytes: number): ByteWriter {
    if (!Number.isFinite(chunkBytes)) return new ByteWriter(estimatedSizeBytes(this.#state));
    this.#writer ??= new ByteWriter(chunkBytes + CHUNK_SLACK_BYTES);
    return this.#writer.reset();
  }
}

/** Room past a chunk's target for the record that crosses it (a larger one grows the writer). */
const CHUNK_SLACK_BYTES = 4096;

function estimatedSizeBytes(state: SnapshotState): number {
  let sizeBytes = 64 + state.leases.length * 24;
  // A cursor's records are read once, as they are written: guess from the count. The writer grows past a guess if needed.
  if (!isArray(state.records)) return sizeBytes + state.records.length * 64;
  for (const record of state.records) sizeBytes += record.key.length + record.value.length + 24; // typical field overhead
  return sizeBytes;
}

function writeHeader(writer: ByteWriter, state: SnapshotState, recordCount: number): void {
  for (const byte of MAGIC) writer.u8(byte);
  const format = state.auth !== undefined ? FORMAT_WITH_AUTH : state.alarms.length > 0 ? FORMAT_WITH_ALARMS : FORMAT_WITHOUT_ALARMS;
  writer.u8(format);
  writer.varuint(state.appliedIndex);
  writer.varuint(state.currentRevision);
  writer.varuint(state.compactRevision);
  writer.varuint(state.leases.length);
  for (const lease of state.leases) {
    writer.i64be(lease.id);
    writer.varuint(lease.ttlSeconds);
  }
  if (format >= FORMAT_WITH_ALARMS) {
    writer.varuint(state.alarms.length);
    for (const alarm of state.alarms) {
      writer.i64be(BigInt.asIntN(64, alarm.memberId));
      writer.u8(ALARM_TYPES.indexOf(alarm.alarm));
    }
  }
  if (state.auth !== undefined) writeAuthSnapshot(writer, state.auth);
  writer.varuint(recordCount);
}

function writeRecord(writer: ByteWriter, record: KvRecord): void {
  writer.varuint(record.main);
  writer.varuint(record.sub);
  writer.binaryStringWithVaruintLength(record.key);
  writer.varuint(record.version);
  if (record.tombstone) return;
  writer.varuint(record.createRevision);
  writer.i64be(record.lease);
  writer.binaryStringWithVaruintLength(record.value);
}

/** Decodes and checks a snapshot; throws MalformedBytesError on any inconsistency. */
export function decodeSnapshot(bytes: Uint8Array): SnapshotState {
  const decoder = new SnapshotDecoder(bytes);
  const header = decoder.header();
  const records: KvRecord[] = [];
  for (let batch = decoder.records(Number.POSITIVE_INFINITY); batch.length > 0; batch = decoder.records(Number.POSITIVE_INFINITY)) {
    for (const record of batch) records.push(record);
  }
  decoder.finish();
  const { appliedIndex, currentRevision, compactRevision, leases, alarms, auth } = header;
  return { appliedIndex, currentRevision, compactRevision, leases, alarms, auth, records };
}

/** What a snapshot holds before its records. */
export interface SnapshotHeader extends Omit<SnapshotState, 'records'> {
  /** How many records follow. */
  readonly recordCount: number;
}

/**
 * Decodes a snapshot piece by piece, the inverse of {@link SnapshotEncoder}:
 * `header()`, then `records(n)` until it returns none, then `finish()`.
 * Every record is checked as it is read (key order, revisions within the
 * header's), and the CRC-32C is computed over the bytes read so far, so the
 * work of each call is bounded by `n` and a restore can run between other
 * events (restore.ts). The checksum can only be compared in `finish()`: a
 * caller must not use what it decoded before that returns. A snapshot that
 * fails to decode earlier is checked whole first, so damage is reported as
 * "checksum mismatch" wherever it is, as a one-shot decode reports it.
 * Throws MalformedBytesError.
 */
export class SnapshotDecoder {
  readonly #bytes: Uint8Array;
  readonly #reader: ByteReader;
  readonly #crc = new Crc32c();
  /** Bytes before this offset went into #crc. */
  #checksummed = 0;
  #header: SnapshotHeader | undefined;
  #recordsLeft = 0;
  #last: KvRecord | undefined;
  #finished = false;

  constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
    this.#reader = new ByteReader(bytes, 0, Math.max(0, bytes.length - 4));
  }

  /** Records not read yet. */
  get recordsLeft(): number {
    return this.#recordsLeft;
  }

  /** The counters, leases, alarms and auth store, and how many records follow; read on the first call. */
  header(): SnapshotHeader {
    this.#header ??= this.#decoding(() => this.#readHeader());
    return this.#header;
  }

  /** The next records (at most `recordsMax`, at least one while any are left), checked; empty once all were read. */
  records(recordsMax: number): KvRecord[] {
    this.header();
    const count = Math.min(this.#recordsLeft, Math.max(1, recordsMax));
    if (count === 0) return [];
    return this.#decoding(() => {
      const header = this.#header!;
      const reader = this.#reader;
      const records: KvRecord[] = []; // not sized from the count: a damaged count must fail on the bytes, not allocate
      let last = this.#last;
      for (let i = 0; i < count; i++) {
        const record = readRecord(reader);
        if (last !== undefined && !inKeyOrder(last, record)) reader.fail('records out of order');
        if (record.main > header.currentRevision || record.main > REVISION_MAX) reader.fail('record beyond the current revision');
        records.push(record);
        last = record;
      }
      this.#last = last;
      this.#recordsLeft -= count;
      this.#checksumTo(reader.offset);
      return records;
    });
  }

  /** Checks that nothing follows the records and that the checksum matches; only then is the decoded state the snapshot's. */
  finish(): void {
    this.header();
    assert(this.#recordsLeft === 0, 'SnapshotDecoder.finish: records left');
    if (this.#finished) return;
    this.#decoding(() => {
      const reader = this.#reader;
      if (reader.remaining !== 0) reader.fail('trailing bytes');
      this.#checksumTo(reader.offset);
      if (this.#crc.value !== storedChecksum(this.#bytes)) new ByteReader(this.#bytes).fail('checksum mismatch');
    });
    this.#finished = true;
  }

  #readHeader(): SnapshotHeader {
    const bytes = this.#bytes;
    const reader = this.#reader;
    if (bytes.length < MAGIC.length + 5) new ByteReader(bytes).fail('too short');
    for (const byte of MAGIC) if (reader.u8() !== byte) reader.fail('bad magic');
    const format = reader.u8();
    if (format !== FORMAT_WITHOUT_ALARMS && format !== FORMAT_WITH_ALARMS && format !== FORMAT_WITH_AUTH) reader.fail('unknown format');
    const appliedIndex = reader.varuint();
    const currentRevision = reader.varuint();
    const compactRevision = reader.varuint();
    if (currentRevision < 1 || compactRevision > currentRevision) reader.fail('inconsistent revisions');
    const leases: Lease[] = [];
    for (let count = reader.varuint(); count > 0; count--) {
      const lease = { id: reader.i64be(), ttlSeconds: reader.varuint() };
      const last = leases[leases.length - 1];
      if (lease.id === 0n || (last !== undefined && last.id >= lease.id)) reader.fail('leases out of order');
      leases.push(lease);
    }
    const alarms = format >= FORMAT_WITH_ALARMS ? readAlarms(reader) : [];
    const auth = format === FORMAT_WITH_AUTH ? readAuthSnapshot(reader) : undefined;
    const recordCount = reader.varuint();
    this.#recordsLeft = recordCount;
    this.#checksumTo(reader.offset);
    return { appliedIndex, currentRevision, compactRevision, leases, alarms, auth, recordCount };
  }

  #checksumTo(offset: number): void {
    this.#crc.bytes(this.#bytes.subarray(this.#checksummed, offset));
    this.#checksummed = offset;
  }

  /**
   * Runs one decoding step; a decoding failure is reported as the whole
   * snapshot's checksum mismatch when that fails too (damage, not a bug in
   * the writer), as a decode that checks the checksum first would.
   */
  #decoding<T>(decode: () => T): T {
    return decodingAs('snapshot', () => {
      try {
        return decode();
      } catch (error) {
        if (error instanceof DecodeError && this.#bytes.length >= MAGIC.length + 5 && !wholeChecksumMatches(this.#bytes)) {
          new ByteReader(this.#bytes).fail('checksum mismatch');
        }
        throw error;
      }
    });
  }
}

function storedChecksum(bytes: Uint8Array): number {
  return new DataView(bytes.buffer, bytes.byteOffset + bytes.length - 4, 4).getUint32(0);
}

function wholeChecksumMatches(bytes: Uint8Array): boolean {
  const crc = new Crc32c();
  crc.bytes(bytes.subarray(0, bytes.length - 4));
  return crc.value === storedChecksum(bytes);
}

function readAlarms(reader: ByteReader): AlarmMember[] {
  const alarms: AlarmMember[] = [];
  for (let count = reader.varuint(); count > 0; count--) {
    const memberId = BigInt.asUintN(64, reader.i64be());
    const alarm = ALARM_TYPES[reader.u8()];
    if (alarm === undefined || alarm === 'NONE') reader.fail('bad alarm type');
    const member: AlarmMember = { memberId, alarm };
    const last = alarms[alarms.length - 1];
    if (last !== undefined && compareAlarms(last, member) >= 0) reader.fail('alarms out of order');
    alarms.push(member);
  }
  return alarms;
}

function inKeyOrder(before: KvRecord, after: KvRecord): boolean {
  return before.key === after.key ? compareRevisions(before, after) < 0 : before.key < after.key;
}

function readRecord(reader: ByteReader): KvRecord {
  const main = reader.varuint();
  const sub = reader.varuint();
  const key = toByteString(reader.bytesWithVaruintLength());
  const version = reader.varuint();
  if (version === 0) return new KvRecord(key, main, sub, '' as ByteString, 0, 0, 0n);
  const createRevision = reader.varuint();
  const lease = reader.i64be();
  return new KvRecord(key, main, sub, toByteString(reader.bytesWithVaruintLength()), createRevision, version, lease);
}
