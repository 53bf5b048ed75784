import { DecodeError, EncodeError } from './errors.js';
import { bytesToFill } from './fill-bytes.js';
import { latin1IntoBytes } from './latin1.js';

/**
 * The byte writer and reader every binary format in keel is written with.
 *
 * One implementation, two families of primitives, because two formats on
 * disk already use them and their bytes must not change:
 * - the WAL and snapshot files (src/storage): fixed-width little-endian
 *   integers (`u16le`, `u32le`, `u64le`), u32-length-prefixed bytes and
 *   UTF-8 strings, zero padding and a checksum patched in last;
 * - store commands and snapshots (src/store): LEB128 varints (`varuint`,
 *   zig-zag `varint`), big-endian `i64be` lease ids and `u32be` checksum,
 *   varuint-length-prefixed bytes and byte strings. Every value has exactly
 *   one encoding there, so equal values give equal bytes.
 * The width and byte order are in each method's name so a format's code
 * says what it writes.
 *
 * 64-bit unsigned fields are written as two 32-bit halves and read back
 * only while they fit a JavaScript number; varints are computed with
 * arithmetic rather than 32-bit bit operations, so any safe integer works.
 */

const TWO_32 = 2 ** 32;
/** A safe integer needs at most 8 septets (53 bits). */
/** varint's bound: zig-zag doubles the magnitude, and 2^53 is past the safe integers. */
const VARINT_LIMIT = 2 ** 52;
const VARUINT_BYTES_MAX = 8;
const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

export class ByteWriter {
  #bytes: Uint8Array;
  #view: DataView;
  #length = 0;

  constructor(capacityBytes = 256) {
    this.#bytes = bytesToFill(Math.max(1, capacityBytes));
    this.#view = new DataView(this.#bytes.buffer, this.#bytes.byteOffset, this.#bytes.byteLength);
  }

  get length(): number {
    return this.#length;
  }

  /** Starts over in the same buffer: views `finish()` returned before now show what is written next. */
  reset(): this {
    this.#length = 0;
    return this;
  }

  u8(value: number): this {
    this.#reserve(1);
    this.#bytes[this.#length++] = value;
    return this;
  }

  bool(value: boolean | undefined): this {
    return this.u8(value ? 1 : 0);
  }

  u16le(value: number): this {
    this.#reserve(2).setUint16(this.#length, value, true);
    this.#length += 2;
    return this;
  }

  u32le(value: number): this {
    this.#reserve(4).setUint32(this.#length, value >>> 0, true);
    this.#length += 4;
    return this;
  }

  u32be(value: number): this {
    this.#reserve(4).setUint32(this.#length, value >>> 0);
    this.#length += 4;
    return this;
  }

  /** A non-negative safe integer as 64 bits, low half first. */
  u64le(value: number): this {
    if (!Number.isSafeInteger(value) || value < 0) throw new EncodeError(`not a non-negative safe integer: ${value}`);
    this.u32le(value % TWO_32);
    return this.u32le(Math.floor(value / TWO_32));
  }

  /** A signed 64-bit integer, big-endian (lease ids; uint64 member ids travel as their two's complement). */
  i64be(value: bigint): this {
    this.#reserve(8).setBigInt64(this.#length, value);
    this.#length += 8;
    return this;
  }

  /** A non-negative safe integer as a LEB128 varint. */
  varuint(value: number): this {
    if (!Number.isSafeInteger(value) || value < 0) throw new EncodeError(`${value} is not a non-negative integer`);
    this.#reserve(VARUINT_BYTES_MAX);
    let rest = value;
    while (rest >= 0x80) {
      this.#bytes[this.#length++] = (rest % 0x80) | 0x80;
      rest = Math.floor(rest / 0x80);
    }
    this.#bytes[this.#length++] = rest;
    return this;
  }

  /** An integer from -2^52 to 2^52 - 1 (its zig-zag form is then a safe integer), zig-zag encoded as a varuint. */
  varint(value: number): this {
    if (!Number.isSafeInteger(value) || value < -VARINT_LIMIT || value >= VARINT_LIMIT) {
      throw new EncodeError(`${value} is not an integer from -2^52 to 2^52 - 1`);
    }
    return this.varuint(value >= 0 ? value * 2 : -value * 2 - 1);
  }

  /** The bytes as they are, with no length. */
  raw(bytes: Uint8Array): this {
    this.#reserve(bytes.length);
    this.#bytes.set(bytes, this.#length);
    this.#length += bytes.length;
    return this;
  }

  bytesWithU32Length(bytes: Uint8Array): this {
    return this.u32le(bytes.length).raw(bytes);
  }

  /** UTF-8, u32-length-prefixed. */
  stringWithU32Length(value: string): this {
    return this.bytesWithU32Length(utf8Encoder.encode(value));
  }

  bytesWithVaruintLength(bytes: Uint8Array): this {
    return this.varuint(bytes.length).raw(bytes);
  }

  /**
   * A string whose every code unit is one byte (the store's byte strings),
   * varuint-length-prefixed: one byte per code unit, no UTF-8 step.
   */
  binaryStringWithVaruintLength(value: string): this {
    this.varuint(value.length);
    this.#reserve(value.length);
    latin1IntoBytes(value, this.#bytes, this.#length);
    this.#length += value.length;
    return this;
  }

  /** Zero bytes up to the next multiple of `alignment`. */
  pad(alignment: number): this {
    const padded = Math.ceil(this.#length / alignment) * alignment;
    this.#reserve(padded - this.#length);
    this.#bytes.fill(0, this.#length, padded);
    this.#length = padded;
    return this;
  }

  /** Overwrites a u32le written earlier (a checksum filled in last). */
  patchU32le(offset: number, value: number): void {
    this.#view.setUint32(offset, value >>> 0, true);
  }

  /** The bytes written so far: a view, not a copy, so writing on may overwrite what it shows. */
  finish(): Uint8Array {
    return this.#bytes.subarray(0, this.#length);
  }

  #reserve(extra: number): DataView {
    const needed = this.#length + extra;
    if (needed <= this.#bytes.length) return this.#view;
    let capacity = this.#bytes.length * 2;
    while (capacity < needed) capacity *= 2;
    const grown = bytesToFill(capacity);
    grown.set(this.#bytes.subarray(0, this.#length));
    this.#bytes = grown;
    this.#view = new DataView(grown.buffer, grown.byteOffset, grown.byteLength);
    return this.#view;
  }
}

/** One shared zero: most store records carry no lease, and each decoded BigInt would otherwise be its own heap object. */
const ZERO_I64 = 0n;

/**
 * Reads what a ByteWriter wrote, between `start` and `end` of `bytes`. Any
 * inconsistency (a read past the end, a bad varint, invalid UTF-8) throws
 * DecodeError, which callers map to their own error.
 */
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

  /** Throws DecodeError naming the offset reached. */
  fail(reason: string): never {
    throw new DecodeError(`${reason} at byte ${this.#offset}`);
  }

  u8(): number {
    return this.#bytes[this.#take(1)]!;
  }

  bool(): boolean {
    const value = this.u8();
    if (value > 1) this.fail('bad boolean');
    return value === 1;
  }

  u16le(): number {
    return this.#view.getUint16(this.#take(2), true);
  }

  u32le(): number {
    return this.#view.getUint32(this.#take(4), true);
  }

  u32be(): number {
    return this.#view.getUint32(this.#take(4));
  }

  u64le(): number {
    const low = this.u32le();
    const high = this.u32le();
    const value = high * TWO_32 + low;
    if (!Number.isSafeInteger(value)) this.fail(`64-bit value ${high}:${low} exceeds 2^53`);
    return value;
  }

  i64be(): bigint {
    const value = this.#view.getBigInt64(this.#take(8));
    return value === 0n ? ZERO_I64 : value;
  }

  /** A canonical varuint: the shortest encoding, within the safe integers. */
  varuint(): number {
    let value = 0;
    let scale = 1;
    for (let count = 0; count < VARUINT_BYTES_MAX; count++) {
      const byte = this.u8();
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) {
        if (!Number.isSafeInteger(value)) this.fail('integer too large');
        if (byte === 0 && count > 0) this.fail('non-canonical integer');
        return value;
      }
      scale *= 0x80;
    }
    return this.fail('integer too long');
  }

  varint(): number {
    const zigzag = this.varuint();
    return zigzag % 2 === 0 ? zigzag / 2 : -(zigzag + 1) / 2;
  }

  /** `length` bytes, copied: a plain Uint8Array even when the input is a Buffer, and safe to keep after the input is reused. */
  raw(length: number): Uint8Array {
    const start = this.#take(length);
    return new Uint8Array(this.#bytes.subarray(start, start + length));
  }

  /** The rest of the input, copied. */
  rest(): Uint8Array {
    return this.raw(this.remaining);
  }

  /** u32-length-prefixed bytes: a view into the input, no copy. */
  bytesWithU32Length(lengthMax: number): Uint8Array {
    const length = this.u32le();
    if (length > lengthMax) this.fail(`length ${length} exceeds ${lengthMax}`);
    return this.#subarray(length);
  }

  /** UTF-8, u32-length-prefixed. */
  stringWithU32Length(lengthMax: number): string {
    const bytes = this.bytesWithU32Length(lengthMax);
    try {
      return utf8Decoder.decode(bytes);
    } catch {
      return this.fail('invalid UTF-8');
    }
  }

  /** varuint-length-prefixed bytes: a view into the input, no copy. */
  bytesWithVaruintLength(): Uint8Array {
    return this.#subarray(this.varuint());
  }

  expectEnd(): void {
    if (this.#offset !== this.#end) this.fail(`${this.remaining} trailing bytes`);
  }

  #subarray(length: number): Uint8Array {
    const start = this.#take(length);
    return this.#bytes.subarray(start, start + length);
  }

  #take(length: number): number {
    if (length < 0 || this.#offset + length > this.#end) this.fail(`truncated: ${length} bytes wanted, ${this.remaining} left`);
    const start = this.#offset;
    this.#offset += length;
    return start;
  }
}
