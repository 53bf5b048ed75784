import type { ByteString } from './bytes.js';
import { toByteString } from './bytes.js';
import { InvalidRequestError, MalformedBytesError } from './errors.js';

/**
 * The binary primitives commands and snapshots are written with. Every
 * value has exactly one encoding, so equal values give equal bytes.
 * Unsigned integers are LEB128 varints (any safe integer, computed with
 * arithmetic rather than 32-bit bit operations); signed ones are zig-zag
 * varints; int64 lease ids are 8 bytes big-endian; byte arrays and byte
 * strings are a varint length followed by the bytes.
 */
export class ByteWriter {
  #buffer: Uint8Array;
  #view: DataView;
  #length = 0;

  constructor(initialBytes = 256) {
    this.#buffer = new Uint8Array(initialBytes);
    this.#view = new DataView(this.#buffer.buffer);
  }

  get length(): number {
    return this.#length;
  }

  u8(value: number): void {
    this.#reserve(1);
    this.#buffer[this.#length++] = value;
  }

  bool(value: boolean | undefined): void {
    this.u8(value ? 1 : 0);
  }

  /** A non-negative safe integer. */
  varuint(value: number): void {
    if (!Number.isSafeInteger(value) || value < 0) throw new InvalidRequestError(`${value} is not a non-negative integer`);
    this.#reserve(8);
    let rest = value;
    while (rest >= 0x80) {
      this.#buffer[this.#length++] = (rest % 0x80) | 0x80;
      rest = Math.floor(rest / 0x80);
    }
    this.#buffer[this.#length++] = rest;
  }

  /** A safe integer (within ±2^52), zig-zag encoded. */
  varint(value: number): void {
    if (!Number.isSafeInteger(value) || Math.abs(value) > 2 ** 52) throw new InvalidRequestError(`${value} is not an integer within ±2^52`);
    this.varuint(value >= 0 ? value * 2 : -value * 2 - 1);
  }

  i64(value: bigint): void {
    this.#reserve(8);
    this.#view.setBigInt64(this.#length, value);
    this.#length += 8;
  }

  u32(value: number): void {
    this.#reserve(4);
    this.#view.setUint32(this.#length, value);
    this.#length += 4;
  }

  bytes(value: Uint8Array): void {
    this.varuint(value.length);
    this.#reserve(value.length);
    this.#buffer.set(value, this.#length);
    this.#length += value.length;
  }

  byteString(value: ByteString): void {
    this.varuint(value.length);
    this.#reserve(value.length);
    const buffer = this.#buffer;
    let at = this.#length;
    for (let i = 0; i < value.length; i++) buffer[at++] = value.charCodeAt(i);
    this.#length = at;
  }

  /** The bytes written so far (a view; the writer must not be used afterwards). */
  finish(): Uint8Array {
    return this.#buffer.subarray(0, this.#length);
  }

  #reserve(extra: number): void {
    if (this.#length + extra <= this.#buffer.length) return;
    let size = this.#buffer.length * 2;
    while (size < this.#length + extra) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(this.#buffer.subarray(0, this.#length));
    this.#buffer = grown;
    this.#view = new DataView(grown.buffer);
  }
}

/** One shared zero: most records carry no lease, and each decoded BigInt would otherwise be its own heap object. */
const NO_LEASE = 0n;

/** Reads what a ByteWriter wrote; any inconsistency throws MalformedBytesError. */
export class ByteReader {
  readonly #bytes: Uint8Array;
  readonly #view: DataView;
  readonly #what: 'command' | 'snapshot';
  #offset = 0;

  constructor(bytes: Uint8Array, what: 'command' | 'snapshot') {
    this.#bytes = bytes;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.#what = what;
  }

  get offset(): number {
    return this.#offset;
  }

  get remaining(): number {
    return this.#bytes.length - this.#offset;
  }

  fail(reason: string): never {
    throw new MalformedBytesError(this.#what, `${reason} at byte ${this.#offset}`);
  }

  u8(): number {
    this.#need(1);
    return this.#bytes[this.#offset++]!;
  }

  bool(): boolean {
    const value = this.u8();
    if (value > 1) this.fail('bad boolean');
    return value === 1;
  }

  varuint(): number {
    let value = 0;
    let scale = 1;
    for (let count = 0; count < 8; count++) {
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

  i64(): bigint {
    this.#need(8);
    const value = this.#view.getBigInt64(this.#offset);
    this.#offset += 8;
    return value === 0n ? NO_LEASE : value;
  }

  u32(): number {
    this.#need(4);
    const value = this.#view.getUint32(this.#offset);
    this.#offset += 4;
    return value;
  }

  /** A view into the bytes being read (no copy). */
  bytes(): Uint8Array {
    const length = this.varuint();
    this.#need(length);
    const value = this.#bytes.subarray(this.#offset, this.#offset + length);
    this.#offset += length;
    return value;
  }

  byteString(): ByteString {
    const length = this.varuint();
    this.#need(length);
    const chunk = this.#bytes.subarray(this.#offset, this.#offset + length);
    this.#offset += length;
    return toByteString(chunk);
  }

  expectEnd(): void {
    if (this.#offset !== this.#bytes.length) this.fail(`${this.remaining} trailing bytes`);
  }

  #need(count: number): void {
    if (this.#offset + count > this.#bytes.length) this.fail('truncated');
  }
}
