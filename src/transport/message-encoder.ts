import type { Message } from '../raft/types.js';

/**
 * A raft message's frame body as msgpack, written without copying large
 * entry data: the body is a list of parts, the small fields in one buffer
 * and each entry's data of {@link REFERENCED_DATA_MIN} bytes or more as a
 * reference to the entry's own bytes, so the socket writes them with one
 * writev and nothing copies them first. The bytes on the wire are exactly
 * those `@msgpack/msgpack`'s Encoder gives for the same fields (the decoder
 * in codec.ts reads both; test/transport/message-encoder.test.ts compares
 * them byte for byte), so peers of an earlier build read them unchanged.
 * A snapshot's begin frame carries the message written here too (codec.ts
 * encodeSnapshotBegin): this is the one place a message's wire fields are
 * listed for encoding.
 *
 * Why: the Encoder copied every entry into its own buffer and then copied
 * that buffer out, two fresh MiB per follower for a 1 MiB put, and V8
 * counts every such Buffer towards its next full collection (see
 * src/cli/up.ts MEMBER_NODE_FLAGS).
 */

/** Entry data this large is referenced, not copied; smaller data is copied in with the fields (one write beats many small ones). */
export const REFERENCED_DATA_MIN = 16 * 1024;

export interface MessageParts {
  /** In order; their concatenation is the frame body. Referenced parts are the entries' own bytes: never written to. */
  readonly parts: readonly Uint8Array[];
  /** The body's length, the sum of the parts'. */
  readonly bytes: number;
}

/** The number of fields of a message on the wire (codec.ts reads them in this order). */
export const MESSAGE_FIELD_COUNT = 12;

export function encodeMessageParts(m: Message): MessageParts {
  const entries = m.entries;
  let bound = 128 + 3 * (m.from.length + m.to.length) + 5 + (m.context?.length ?? 0) + 5;
  for (let i = 0; i < entries.length; i++) {
    const data = entries[i]!.data;
    bound += 1 + 9 + 9 + 9 + 5 + (data.length < REFERENCED_DATA_MIN ? data.length : 0);
  }
  const w = new PartsWriter(bound);
  w.arrayHeader(MESSAGE_FIELD_COUNT);
  w.uint(m.type);
  w.string(m.from);
  w.string(m.to);
  w.uint(m.term);
  w.uint(m.logTerm);
  w.uint(m.index);
  w.uint(m.commit);
  w.boolean(m.reject);
  w.uint(m.rejectHint);
  w.uint(m.logTermHint);
  w.arrayHeader(entries.length);
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i]!;
    w.arrayHeader(4);
    w.uint(entry.term);
    w.uint(entry.index);
    w.uint(entry.type);
    w.binary(entry.data);
  }
  if (m.context === undefined) w.nil();
  else w.binary(m.context);
  return w.finish();
}

/** Writes msgpack into one buffer sized by the caller's bound, splitting it around referenced binaries. */
class PartsWriter {
  readonly #buffer: Buffer;
  #pos = 0;
  /** Start of the current inline run (after the last referenced binary). */
  #runStart = 0;
  readonly #parts: Uint8Array[] = [];
  #bytes = 0;

  constructor(bound: number) {
    this.#buffer = Buffer.allocUnsafe(bound);
  }

  nil(): void {
    this.#buffer[this.#pos++] = 0xc0;
  }

  boolean(value: boolean): void {
    this.#buffer[this.#pos++] = value ? 0xc3 : 0xc2;
  }

  /** A number as the Encoder writes it: the shortest unsigned form for a non-negative safe integer (all a message holds). */
  uint(value: number): void {
    if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`a message field holds ${value}, not a non-negative integer`);
    const b = this.#buffer;
    if (value < 0x80) {
      b[this.#pos++] = value;
    } else if (value < 0x100) {
      b[this.#pos++] = 0xcc;
      b[this.#pos++] = value;
    } else if (value < 0x1_0000) {
      b[this.#pos++] = 0xcd;
      this.#pos = b.writeUInt16BE(value, this.#pos);
    } else if (value < 0x1_0000_0000) {
      b[this.#pos++] = 0xce;
      this.#pos = b.writeUInt32BE(value, this.#pos);
    } else {
      b[this.#pos++] = 0xcf;
      this.#pos = b.writeUInt32BE(Math.floor(value / 0x1_0000_0000), this.#pos);
      this.#pos = b.writeUInt32BE(value >>> 0, this.#pos);
    }
  }

  string(value: string): void {
    const length = Buffer.byteLength(value, 'utf8');
    const b = this.#buffer;
    if (length < 32) {
      b[this.#pos++] = 0xa0 | length;
    } else if (length < 0x100) {
      b[this.#pos++] = 0xd9;
      b[this.#pos++] = length;
    } else if (length < 0x1_0000) {
      b[this.#pos++] = 0xda;
      this.#pos = b.writeUInt16BE(length, this.#pos);
    } else {
      b[this.#pos++] = 0xdb;
      this.#pos = b.writeUInt32BE(length, this.#pos);
    }
    this.#pos += b.write(value, this.#pos, 'utf8');
  }

  arrayHeader(length: number): void {
    const b = this.#buffer;
    if (length < 16) {
      b[this.#pos++] = 0x90 | length;
    } else if (length < 0x1_0000) {
      b[this.#pos++] = 0xdc;
      this.#pos = b.writeUInt16BE(length, this.#pos);
    } else {
      b[this.#pos++] = 0xdd;
      this.#pos = b.writeUInt32BE(length, this.#pos);
    }
  }

  binary(data: Uint8Array): void {
    const length = data.length;
    const b = this.#buffer;
    if (length < 0x100) {
      b[this.#pos++] = 0xc4;
      b[this.#pos++] = length;
    } else if (length < 0x1_0000) {
      b[this.#pos++] = 0xc5;
      this.#pos = b.writeUInt16BE(length, this.#pos);
    } else {
      b[this.#pos++] = 0xc6;
      this.#pos = b.writeUInt32BE(length, this.#pos);
    }
    if (length < REFERENCED_DATA_MIN) {
      b.set(data, this.#pos);
      this.#pos += length;
      return;
    }
    this.#endRun();
    this.#parts.push(data);
    this.#bytes += length;
  }

  finish(): MessageParts {
    this.#endRun();
    return { parts: this.#parts, bytes: this.#bytes };
  }

  #endRun(): void {
    if (this.#pos === this.#runStart) return;
    this.#parts.push(this.#buffer.subarray(this.#runStart, this.#pos));
    this.#bytes += this.#pos - this.#runStart;
    this.#runStart = this.#pos;
  }
}
