import type { Entry, HardState } from '../raft/types.js';
import { ByteReader, ByteWriter, DecodeError } from '../codec/index.js';
import { decodeEntry, decodeHardState, encodeEntryHead, encodeHardState } from './codec.js';
import { crc32c } from './crc32c.js';
import { WalCorruptError } from './errors.js';
import { RECORD_SIZE_BYTES_MAX, SECTOR_SIZE_BYTES, TORN_PIECE_BYTES_MIN } from './limits.js';
import type { LogRecord } from './replay.js';

/**
 * On-disk format of a WAL segment.
 *
 * A segment file `<seq>-<firstIndex>.wal` (16 hex digits each) starts with a
 * segment header record, then holds records, then zeros up to its
 * preallocated size. Every record is 8-byte aligned:
 *
 *     u32 headerCrc   CRC-32C of bytes 4..24, seeded with the segment salt
 *     u32 payloadCrc  CRC-32C of the payload, seeded with the segment salt
 *     u32 length      payload bytes (before padding)
 *     u8  type        1 segment header, 2 entry, 3 hard state, 4 snapshot installed
 *     u8  flags       bit 0: last record of its batch (one `save` = one batch)
 *     u16 reserved    0
 *     u64 batch       batch number, +1 per save, continuing across segments
 *     payload, zero-padded to a multiple of 8
 *
 * The salt is the CRC of the segment header's payload, which holds the
 * segment's sequence number: a record left over from another segment or an
 * earlier incarnation of this one cannot pass. The header has its own CRC so
 * that a damaged length is never trusted, and because an aligned 24-byte
 * header never straddles a sector it is either whole or zero after a power
 * loss: a non-zero header that fails its CRC is corruption, never a torn write.
 */
export const RECORD_HEADER_BYTES = 24;
export const RECORD_ALIGNMENT_BYTES = 8;
const SEGMENT_MAGIC = 0x4c41574b; // "KWAL"
const SEGMENT_VERSION = 1;
/** Seed for the segment header record, which cannot use the salt it defines. */
const SEGMENT_HEADER_SEED = 0x4b45454c;
const FLAG_BATCH_END = 1;

export const RecordType = {
  SegmentHeader: 1,
  Entry: 2,
  HardState: 3,
  SnapshotInstalled: 4,
} as const;

export interface SegmentHeader {
  readonly sequence: number;
  /** Every entry at or after this index lives in this segment or a later one. */
  readonly firstIndex: number;
  /** Number of the last batch written before this segment (0 for none). */
  readonly previousBatch: number;
  /** The hard state current when the segment was cut, so that releasing older segments never loses it. */
  readonly hardState: HardState | undefined;
}

export function segmentFileName(sequence: number, firstIndex: number): string {
  return `${hex16(sequence)}-${hex16(firstIndex)}.wal`;
}

export function parseSegmentFileName(name: string): { sequence: number; firstIndex: number } | undefined {
  const match = /^([0-9a-f]{16})-([0-9a-f]{16})\.wal$/.exec(name);
  if (!match) return undefined;
  return { sequence: parseInt(match[1]!, 16), firstIndex: parseInt(match[2]!, 16) };
}

export function hex16(value: number): string {
  return value.toString(16).padStart(16, '0');
}

/** Encodes the header record of a new segment; returns its bytes and the salt for its records. */
export function encodeSegmentHeader(header: SegmentHeader): { bytes: Uint8Array; salt: number } {
  const payload = new ByteWriter(64).u32le(SEGMENT_MAGIC).u16le(SEGMENT_VERSION).u16le(0);
  payload.u64le(header.sequence).u64le(header.firstIndex).u64le(header.previousBatch);
  payload.u8(header.hardState ? 1 : 0);
  if (header.hardState) encodeHardState(payload, header.hardState);
  const bytes = payload.finish();
  const writer = new ByteWriter(RECORD_HEADER_BYTES + bytes.length + RECORD_ALIGNMENT_BYTES);
  appendRecord(writer, SEGMENT_HEADER_SEED, RecordType.SegmentHeader, bytes, header.previousBatch, true);
  return { bytes: writer.finish(), salt: crc32c(bytes) };
}

/** Appends one framed record to `writer`. */
export function appendRecord(writer: ByteWriter, salt: number, type: number, payload: Uint8Array, batch: number, batchEnd: boolean): void {
  appendRecordOf(writer, salt, type, payload, undefined, batch, batchEnd);
}

/**
 * Appends one framed record whose payload is `head` followed by `tail` (if
 * any), written straight into `writer`: an entry's payload is its 17-byte
 * header and its data, and copying the data into a payload of its own first
 * cost a second copy of every value (1 MiB per put of bench/scale's fill A).
 * The payload's CRC runs over the two parts in turn (CRC-32C continues from
 * a seed), which is the CRC of the whole.
 */
function appendRecordOf(
  writer: ByteWriter,
  salt: number,
  type: number,
  head: Uint8Array,
  tail: Uint8Array | undefined,
  batch: number,
  batchEnd: boolean,
  referTail?: (tail: Uint8Array) => void,
): void {
  const start = writer.length;
  const payloadCrc = tail === undefined ? crc32c(head, salt) : crc32c(tail, crc32c(head, salt));
  const payloadLength = head.length + (tail?.length ?? 0);
  writer.u32le(0).u32le(payloadCrc).u32le(payloadLength).u8(type).u8(batchEnd ? FLAG_BATCH_END : 0).u16le(0).u64le(batch);
  const bytes = writer.finish();
  writer.patchU32le(start, crc32c(bytes, salt, start + 4, start + RECORD_HEADER_BYTES));
  writer.raw(head);
  if (tail !== undefined) {
    if (referTail === undefined) writer.raw(tail);
    else referTail(tail);
  }
  // Padded by the payload's length, not the writer's: with the tail referred to, the writer holds less than the record.
  writer.raw(ZERO_PADDING.subarray(0, paddedBytes(payloadLength) - payloadLength));
}

const ZERO_PADDING = new Uint8Array(RECORD_ALIGNMENT_BYTES);

function paddedBytes(payloadLength: number): number {
  return Math.ceil(payloadLength / RECORD_ALIGNMENT_BYTES) * RECORD_ALIGNMENT_BYTES;
}

/** An entry's payload before its data: term, index, type. */
const ENTRY_HEAD_BYTES = 17;

/**
 * Frames the records of one batch; returns the bytes to write in one go.
 * The buffer is sized once for the whole batch (growing it by doubling
 * copied a 1 MiB batch about twice more, into fresh allocations).
 * `recordOffsets`, when given, gets each record's offset in the bytes.
 */
export function encodeBatch(records: readonly LogRecord[], salt: number, batch: number, recordOffsets?: number[]): Uint8Array {
  return encodeBatchInto(records, salt, batch, Infinity, recordOffsets).parts[0] ?? new Uint8Array(0);
}

/**
 * Entry data this large is written from the entry's own bytes, one part of
 * a writev, rather than copied into the batch (see {@link encodeBatchParts}).
 */
export const REFERENCED_ENTRY_BYTES_MIN = 64 * 1024;

/** A batch as the parts of one writev; their concatenation is what {@link encodeBatch} gives. */
export interface BatchParts {
  /** Referred-to parts are entries' own data: never written to. */
  readonly parts: readonly Uint8Array[];
  readonly bytes: number;
}

/**
 * {@link encodeBatch} without copying large entry data: the frames, heads,
 * small data and padding go into one buffer sized for them, split around
 * each entry's data of {@link REFERENCED_ENTRY_BYTES_MIN} or more, which is
 * a part of its own. A 1 MiB put was copied into its batch on every member
 * (a fresh MiB each, which V8 counts towards its next full collection).
 */
export function encodeBatchParts(records: readonly LogRecord[], salt: number, batch: number, recordOffsets?: number[]): BatchParts {
  return encodeBatchInto(records, salt, batch, REFERENCED_ENTRY_BYTES_MIN, recordOffsets);
}

function encodeBatchInto(records: readonly LogRecord[], salt: number, batch: number, referencedMin: number, recordOffsets?: number[]): BatchParts {
  const heads = records.map((record) => encodePayloadHead(new ByteWriter(record.kind === 'entry' ? ENTRY_HEAD_BYTES : 64), record));
  let sizeBytes = 0;
  let referencedBytes = 0;
  records.forEach((record, position) => {
    const dataLength = record.kind === 'entry' ? record.entry.data.length : 0;
    sizeBytes += RECORD_HEADER_BYTES + paddedBytes(heads[position]!.length + dataLength);
    if (dataLength >= referencedMin) referencedBytes += dataLength;
  });
  // Sized exactly, so the writer never grows: the views taken of it below stay its buffer.
  const writer = new ByteWriter(sizeBytes - referencedBytes);
  const parts: Uint8Array[] = [];
  let runStart = 0;
  let referredSoFar = 0;
  const refer = (data: Uint8Array): void => {
    parts.push(writer.finish().subarray(runStart), data);
    runStart = writer.length;
    referredSoFar += data.length;
  };
  records.forEach((record, position) => {
    recordOffsets?.push(writer.length + referredSoFar);
    const tail = record.kind === 'entry' ? record.entry.data : undefined;
    const referTail = tail !== undefined && tail.length >= referencedMin ? refer : undefined;
    appendRecordOf(writer, salt, recordType(record), heads[position]!, tail, batch, position === records.length - 1, referTail);
  });
  if (writer.length + referredSoFar !== sizeBytes) throw new Error(`encodeBatch: wrote ${writer.length + referredSoFar} bytes of the ${sizeBytes} sized`);
  if (writer.length > runStart) parts.push(writer.finish().subarray(runStart));
  return { parts, bytes: sizeBytes };
}

function recordType(record: LogRecord): number {
  if (record.kind === 'entry') return RecordType.Entry;
  return record.kind === 'hardState' ? RecordType.HardState : RecordType.SnapshotInstalled;
}

/** A record's payload, but an entry's only up to its data (encodeBatch writes the data after it, uncopied). */
function encodePayloadHead(writer: ByteWriter, record: LogRecord): Uint8Array {
  if (record.kind === 'entry') encodeEntryHead(writer, record.entry);
  else if (record.kind === 'hardState') encodeHardState(writer, record.hardState);
  else writer.u64le(record.index).u64le(record.term);
  return writer.finish();
}

function decodeLogRecord(type: number, reader: ByteReader): LogRecord {
  if (type === RecordType.Entry) return { kind: 'entry', entry: decodeEntry(reader) };
  if (type === RecordType.HardState) return { kind: 'hardState', hardState: decodeHardState(reader) };
  const index = reader.u64le();
  const term = reader.u64le();
  reader.expectEnd();
  return { kind: 'snapshotInstalled', index, term };
}

/** What a scan of one segment found. */
export interface SegmentScan {
  readonly header: SegmentHeader;
  readonly records: LogRecord[];
  /** Each record's offset in the segment (records[i] starts at offsets[i]). */
  readonly offsets: number[];
  /** The salt of the segment's records. */
  readonly salt: number;
  /** Number of the last complete batch in the segment (the header's `previousBatch` when none). */
  readonly lastBatch: number;
  /** Where the next record goes: the end of the last complete batch. */
  readonly endOffset: number;
  /** Set when a torn tail was found: the offset it starts at (equal to `endOffset`). */
  readonly tornAt: number | undefined;
}

interface RawRecord {
  readonly type: number;
  readonly batch: number;
  readonly batchEnd: boolean;
  readonly payloadStart: number;
  readonly length: number;
  /** Offset of the next record. */
  readonly next: number;
}

type Probe =
  | { readonly kind: 'record'; readonly record: RawRecord }
  | { readonly kind: 'end' }
  /** Possibly a torn write (decided by what follows); `batch` when the header was intact. */
  | { readonly kind: 'suspect'; readonly batch: number | undefined }
  | { readonly kind: 'corrupt'; readonly reason: string };

/**
 * Reads one segment. `isLast` allows a torn tail: a partial record, a zero
 * header with data after it, or a record whose payload fails its CRC while
 * one of its sectors is all zeros (sectors persist whole or not at all), as
 * long as no record of a later batch follows. The torn batch is dropped
 * whole. Anything else throws {@link WalCorruptError} naming file and offset.
 */
export function scanSegment(bytes: Uint8Array, file: string, isLast: boolean): SegmentScan {
  const { header, salt, next } = readSegmentHeader(bytes, file);
  const records: LogRecord[] = [];
  const offsets: number[] = [];
  let batch = header.previousBatch;
  let batchEnded = true;
  let batchStart = next;
  let batchRecords = 0;
  let offset = next;
  for (;;) {
    const probe = probeRecord(bytes, offset, salt);
    if (probe.kind === 'end') break;
    if (probe.kind === 'corrupt') throw new WalCorruptError(file, offset, probe.reason);
    if (probe.kind === 'suspect') {
      const tornBatch = batchEnded ? batch + 1 : batch;
      if (probe.batch !== undefined && probe.batch !== tornBatch) {
        throw new WalCorruptError(file, offset, `damaged record of batch ${probe.batch} where batch ${tornBatch} was expected`);
      }
      if (!isLast) throw new WalCorruptError(file, offset, 'damaged record in a segment that is not the last');
      const later = findLaterBatch(bytes, offset + RECORD_ALIGNMENT_BYTES, salt, tornBatch);
      if (later !== undefined) {
        throw new WalCorruptError(file, offset, `damaged record followed by a valid record of batch ${later.batch} at offset ${later.offset}`);
      }
      const tornAt = batchEnded ? offset : batchStart;
      records.length -= batchEnded ? 0 : batchRecords;
      offsets.length = records.length;
      return { header, records, offsets, salt, lastBatch: batchEnded ? batch : batch - 1, endOffset: tornAt, tornAt };
    }
    const record = probe.record;
    const expected = batchEnded ? batch + 1 : batch;
    if (record.batch !== expected) throw new WalCorruptError(file, offset, `record of batch ${record.batch} where batch ${expected} was expected`);
    if (batchEnded) {
      batchStart = offset;
      batchRecords = 0;
    }
    records.push(decodeRecordAt(bytes, record, file, offset));
    offsets.push(offset);
    batchRecords++;
    batch = record.batch;
    batchEnded = record.batchEnd;
    offset = record.next;
  }
  if (!batchEnded) {
    if (!isLast) throw new WalCorruptError(file, offset, `segment ends inside batch ${batch}`);
    records.length -= batchRecords;
    offsets.length = records.length;
    return { header, records, offsets, salt, lastBatch: batch - 1, endOffset: batchStart, tornAt: batchStart };
  }
  return { header, records, offsets, salt, lastBatch: batch, endOffset: offset, tornAt: undefined };
}

/** Bytes a record takes in its segment, header and padding included, for a payload of `payloadBytes`. */
export function recordSizeBytes(payloadBytes: number): number {
  return RECORD_HEADER_BYTES + Math.ceil(payloadBytes / RECORD_ALIGNMENT_BYTES) * RECORD_ALIGNMENT_BYTES;
}

/** The payload bytes of an entry's record. */
export function entryPayloadBytes(entry: Entry): number {
  return ENTRY_HEAD_BYTES + entry.data.length;
}

/**
 * Decodes the entry record `bytes` holds (one record read back from a
 * segment at `offset`), checking both its checksums against the segment's
 * salt as a scan would. Anything else than an intact entry record throws
 * {@link WalCorruptError} naming file and offset.
 */
export function decodeEntryRecord(bytes: Uint8Array, salt: number, file: string, offset: number): Entry {
  const probe = probeRecord(bytes, 0, salt);
  if (probe.kind !== 'record') throw new WalCorruptError(file, offset, probe.kind === 'corrupt' ? probe.reason : 'entry record read back is damaged or short');
  if (probe.record.type !== RecordType.Entry) throw new WalCorruptError(file, offset, `record read back is of type ${probe.record.type}, not an entry`);
  const record = decodeRecordAt(bytes, probe.record, file, offset);
  if (record.kind !== 'entry') throw new WalCorruptError(file, offset, 'record read back is not an entry');
  return record.entry;
}

function readSegmentHeader(bytes: Uint8Array, file: string): { header: SegmentHeader; salt: number; next: number } {
  const probe = probeRecord(bytes, 0, SEGMENT_HEADER_SEED);
  if (probe.kind !== 'record' || probe.record.type !== RecordType.SegmentHeader) {
    throw new WalCorruptError(file, 0, 'missing or damaged segment header');
  }
  const { payloadStart, length, next } = probe.record;
  try {
    const reader = new ByteReader(bytes, payloadStart, payloadStart + length);
    if (reader.u32le() !== SEGMENT_MAGIC) throw new DecodeError('bad magic');
    const version = reader.u16le();
    if (version !== SEGMENT_VERSION) throw new DecodeError(`unsupported version ${version}`);
    reader.u16le();
    const sequence = reader.u64le();
    const firstIndex = reader.u64le();
    const previousBatch = reader.u64le();
    const hardState = reader.u8() === 1 ? decodeHardState(reader) : undefined;
    const salt = crc32c(bytes, 0, payloadStart, payloadStart + length);
    return { header: { sequence, firstIndex, previousBatch, hardState }, salt, next };
  } catch (error) {
    throw new WalCorruptError(file, 0, `segment header: ${(error as Error).message}`);
  }
}

function decodeRecordAt(bytes: Uint8Array, record: RawRecord, file: string, offset: number): LogRecord {
  if (record.type === RecordType.SegmentHeader) throw new WalCorruptError(file, offset, 'segment header inside a segment');
  try {
    return decodeLogRecord(record.type, new ByteReader(bytes, record.payloadStart, record.payloadStart + record.length));
  } catch (error) {
    throw new WalCorruptError(file, offset, `undecodable record: ${(error as Error).message}`);
  }
}

function probeRecord(bytes: Uint8Array, offset: number, salt: number): Probe {
  if (offset >= bytes.length) return { kind: 'end' };
  if (offset + RECORD_HEADER_BYTES > bytes.length) {
    return isAllZero(bytes, offset, bytes.length) ? { kind: 'end' } : { kind: 'suspect', batch: undefined };
  }
  if (isAllZero(bytes, offset, offset + RECORD_HEADER_BYTES)) {
    return isAllZero(bytes, offset, bytes.length) ? { kind: 'end' } : { kind: 'suspect', batch: undefined };
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset + offset, RECORD_HEADER_BYTES);
  if (view.getUint32(0, true) !== crc32c(bytes, salt, offset + 4, offset + RECORD_HEADER_BYTES)) {
    return { kind: 'corrupt', reason: 'record header checksum mismatch' };
  }
  const length = view.getUint32(8, true);
  const type = view.getUint8(12);
  const flags = view.getUint8(13);
  const batch = view.getUint32(16, true) + view.getUint32(20, true) * 2 ** 32;
  if (type < RecordType.SegmentHeader || type > RecordType.SnapshotInstalled || (flags & ~FLAG_BATCH_END) !== 0 || view.getUint16(14, true) !== 0) {
    return { kind: 'corrupt', reason: `unknown record type ${type} or flags ${flags}` };
  }
  if (length > RECORD_SIZE_BYTES_MAX) return { kind: 'corrupt', reason: `record length ${length} exceeds ${RECORD_SIZE_BYTES_MAX}` };
  const payloadStart = offset + RECORD_HEADER_BYTES;
  const next = payloadStart + Math.ceil(length / RECORD_ALIGNMENT_BYTES) * RECORD_ALIGNMENT_BYTES;
  if (next > bytes.length) return { kind: 'suspect', batch };
  if (view.getUint32(4, true) !== crc32c(bytes, salt, payloadStart, payloadStart + length)) {
    return hasZeroSector(bytes, payloadStart, next) ? { kind: 'suspect', batch } : { kind: 'corrupt', reason: 'record payload checksum mismatch' };
  }
  return { kind: 'record', record: { type, batch, batchEnd: (flags & FLAG_BATCH_END) !== 0, payloadStart, length, next } };
}

/** The first valid record after `from` whose batch is later than `batch`, if any. */
function findLaterBatch(bytes: Uint8Array, from: number, salt: number, batch: number): { offset: number; batch: number } | undefined {
  for (let offset = from; offset + RECORD_HEADER_BYTES <= bytes.length; offset += RECORD_ALIGNMENT_BYTES) {
    if (bytes[offset] === 0 && isAllZero(bytes, offset, offset + RECORD_HEADER_BYTES)) continue;
    const probe = probeRecord(bytes, offset, salt);
    if (probe.kind === 'record' && probe.record.batch > batch) return { offset, batch: probe.record.batch };
  }
  return undefined;
}

/**
 * True when some sector-aligned piece of [start, end) is all zeros: what a
 * sector that never reached the disk looks like (segments are zero-filled
 * when created and never reused). Pieces shorter than
 * {@link TORN_PIECE_BYTES_MIN} do not count: encoded integers hold short
 * zero runs, and a bit flip next to one must read as corruption, not as a
 * torn write whose batch may be dropped.
 */
function hasZeroSector(bytes: Uint8Array, start: number, end: number): boolean {
  for (let low = start; low < end; ) {
    const high = Math.min(end, (Math.floor(low / SECTOR_SIZE_BYTES) + 1) * SECTOR_SIZE_BYTES);
    if (high - low >= TORN_PIECE_BYTES_MIN && isAllZero(bytes, low, high)) return true;
    low = high;
  }
  return false;
}

const ZEROS = new Uint8Array(64 * 1024);

export function isAllZero(bytes: Uint8Array, start: number, end: number): boolean {
  for (let low = start; low < end; low += ZEROS.length) {
    const high = Math.min(end, low + ZEROS.length);
    if (Buffer.compare(bytes.subarray(low, high), ZEROS.subarray(0, high - low)) !== 0) return false;
  }
  return true;
}
