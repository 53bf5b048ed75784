import type { ConfState, Entry, EntryType, HardState, SnapshotMetadata } from '../raft/types.js';
import { MEMBERS_MAX, NODE_ID_BYTES_MAX } from './limits.js';

/**
 * Hand-written little-endian binary encoding of what the WAL and snapshot
 * files hold. Dependency-free, and exact: 64-bit fields are written as two
 * 32-bit halves and read back only while they fit a JavaScript number.
 */

const TWO_32 = 2 ** 32;
const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** A malformed payload. Callers turn it into a corruption error that names the file and offset. */
export class DecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DecodeError';
  }
}

export class ByteWriter {
  #bytes: Uint8Array;
  #view: DataView;
  #length = 0;

  constructor(capacity = 256) {
    this.#bytes = new Uint8Array(capacity);
    this.#view = new DataView(this.#bytes.buffer);
  }

  get length(): number {
    return this.#length;
  }

  u8(value: number): this {
    this.#reserve(1).setUint8(this.#length, value);
    this.#length += 1;
    return this;
  }

  u16(value: number): this {
    this.#reserve(2).setUint16(this.#length, value, true);
    this.#length += 2;
    return this;
  }

  u32(value: number): this {
    this.#reserve(4).setUint32(this.#length, value >>> 0, true);
    this.#length += 4;
    return this;
  }

  /** A non-negative safe integer as 64 bits. */
  u64(value: number): this {
    if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`not a non-negative safe integer: ${value}`);
    this.u32(value % TWO_32);
    return this.u32(Math.floor(value / TWO_32));
  }

  raw(bytes: Uint8Array): this {
    this.#reserve(bytes.length);
    this.#bytes.set(bytes, this.#length);
    this.#length += bytes.length;
    return this;
  }

  /** Length-prefixed bytes. */
  bytes(bytes: Uint8Array): this {
    return this.u32(bytes.length).raw(bytes);
  }

  string(value: string): this {
    return this.bytes(encoder.encode(value));
  }

  /** Zero bytes up to the next multiple of `alignment`. */
  pad(alignment: number): this {
    const padded = Math.ceil(this.#length / alignment) * alignment;
    this.#reserve(padded - this.#length);
    this.#bytes.fill(0, this.#length, padded);
    this.#length = padded;
    return this;
  }

  /** Overwrites a u32 written earlier (a checksum filled in last). */
  patchU32(offset: number, value: number): void {
    this.#view.setUint32(offset, value >>> 0, true);
  }

  /** The bytes written so far (a view, not a copy). */
  finish(): Uint8Array {
    return this.#bytes.subarray(0, this.#length);
  }

  #reserve(extra: number): DataView {
    const needed = this.#length + extra;
    if (needed <= this.#bytes.length) return this.#view;
    let capacity = this.#bytes.length * 2;
    while (capacity < needed) capacity *= 2;
    const grown = new Uint8Array(capacity);
    grown.set(this.#bytes.subarray(0, this.#length));
    this.#bytes = grown;
    this.#view = new DataView(grown.buffer);
    return this.#view;
  }
}

export class ByteReader {
  readonly #bytes: Uint8Array;
  readonly #view: DataView;
  #offset: number;
  readonly #end: number;

  constructor(bytes: Uint8Array, start = 0, end = bytes.length) {
    this.#bytes = bytes;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.#offset = start;
    this.#end = end;
  }

  get offset(): number {
    return this.#offset;
  }

  get remaining(): number {
    return this.#end - this.#offset;
  }

  u8(): number {
    return this.#view.getUint8(this.#take(1));
  }

  u16(): number {
    return this.#view.getUint16(this.#take(2), true);
  }

  u32(): number {
    return this.#view.getUint32(this.#take(4), true);
  }

  u64(): number {
    const low = this.u32();
    const high = this.u32();
    const value = high * TWO_32 + low;
    if (!Number.isSafeInteger(value)) throw new DecodeError(`64-bit value ${high}:${low} exceeds 2^53`);
    return value;
  }

  raw(length: number): Uint8Array {
    const start = this.#take(length);
    // A copy, and a plain Uint8Array even when the input is a Buffer.
    return new Uint8Array(this.#bytes.subarray(start, start + length));
  }

  bytes(lengthMax: number): Uint8Array {
    const length = this.u32();
    if (length > lengthMax) throw new DecodeError(`length ${length} exceeds ${lengthMax}`);
    return this.raw(length);
  }

  string(lengthMax: number): string {
    try {
      return decoder.decode(this.bytes(lengthMax));
    } catch (error) {
      if (error instanceof DecodeError) throw error;
      throw new DecodeError('invalid UTF-8');
    }
  }

  /** The rest of the input, copied. */
  rest(): Uint8Array {
    return this.raw(this.remaining);
  }

  expectEnd(): void {
    if (this.#offset !== this.#end) throw new DecodeError(`${this.#end - this.#offset} unexpected trailing bytes`);
  }

  #take(length: number): number {
    if (length < 0 || this.#offset + length > this.#end) {
      throw new DecodeError(`read of ${length} bytes at ${this.#offset} passes the end at ${this.#end}`);
    }
    const start = this.#offset;
    this.#offset += length;
    return start;
  }
}

export function encodeEntry(writer: ByteWriter, entry: Entry): void {
  writer.u64(entry.term).u64(entry.index).u8(entry.type).raw(entry.data);
}

export function decodeEntry(reader: ByteReader): Entry {
  const term = reader.u64();
  const index = reader.u64();
  const type = reader.u8();
  if (type !== 0 && type !== 1) throw new DecodeError(`unknown entry type ${type}`);
  return { term, index, type: type as EntryType, data: reader.rest() };
}

export function encodeHardState(writer: ByteWriter, hardState: HardState): void {
  writer.u64(hardState.term).u64(hardState.commit).string(hardState.vote);
}

export function decodeHardState(reader: ByteReader): HardState {
  const term = reader.u64();
  const commit = reader.u64();
  const vote = reader.string(NODE_ID_BYTES_MAX);
  reader.expectEnd();
  return { term, vote, commit };
}

function encodeMembers(writer: ByteWriter, members: readonly string[]): void {
  writer.u32(members.length);
  for (const member of members) writer.string(member);
}

function decodeMembers(reader: ByteReader): string[] {
  const count = reader.u32();
  if (count > MEMBERS_MAX) throw new DecodeError(`${count} members exceed ${MEMBERS_MAX}`);
  const members: string[] = [];
  for (let i = 0; i < count; i++) members.push(reader.string(NODE_ID_BYTES_MAX));
  return members;
}

export function encodeSnapshotMetadata(writer: ByteWriter, metadata: SnapshotMetadata): void {
  writer.u64(metadata.index).u64(metadata.term);
  encodeMembers(writer, metadata.confState.voters);
  encodeMembers(writer, metadata.confState.learners);
}

export function decodeSnapshotMetadata(reader: ByteReader): SnapshotMetadata {
  const index = reader.u64();
  const term = reader.u64();
  const voters = decodeMembers(reader);
  const learners = decodeMembers(reader);
  const confState: ConfState = { voters, learners };
  return { index, term, confState };
}
