import { CHUNK_LINE_BYTES_MAX, CHUNK_TRAILER_BYTES_MAX } from '../limits.js';
import { badRequest } from './head-parser.js';

/**
 * Finds where a message body ends without copying it: the fast path
 * forwards body bytes as they arrive (chunked bodies keep their framing,
 * so trailers pass through too) and only needs to know how many of the
 * bytes in hand belong to this message. `consume` returns how many bytes
 * of `chunk` (from `offset`) are body; `done` is set once the body ended.
 */
export interface BodyFraming {
  consume(chunk: Buffer, offset: number): number;
  readonly done: boolean;
  /** Payload bytes seen (chunk data only, for chunked bodies): what a size limit counts. */
  readonly payloadBytes: number;
}

/** A body of `length` bytes. */
export class LengthFraming implements BodyFraming {
  #left: number;
  payloadBytes = 0;
  constructor(length: number) {
    this.#left = length;
  }
  get done(): boolean {
    return this.#left === 0;
  }
  consume(chunk: Buffer, offset: number): number {
    const take = Math.min(this.#left, chunk.length - offset);
    this.#left -= take;
    this.payloadBytes += take;
    return take;
  }
}

/** A body read until the connection ends (responses without a length): never done by itself. */
export class CloseFraming implements BodyFraming {
  payloadBytes = 0;
  readonly done = false;
  consume(chunk: Buffer, offset: number): number {
    this.payloadBytes += chunk.length - offset;
    return chunk.length - offset;
  }
}

const CR = 13;
const LF = 10;

const enum State { Size, SizeLine, Data, DataCr, DataLf, Trailer, Done }

/** Hex digit values; -1 for anything else. */
const HEX = new Int8Array(256).fill(-1);
for (let digit = 0; digit < 16; digit++) HEX['0123456789abcdef'.charCodeAt(digit)] = digit;
for (let digit = 10; digit < 16; digit++) HEX['ABCDEF'.charCodeAt(digit - 10)] = digit;

/** Hex digits of a chunk size at most: 2^52 bytes, exact in a double (and no chunk is that big anyway). */
const CHUNK_SIZE_DIGITS_MAX = 13;

/**
 * RFC 9112 §7.1 chunked framing, strictly: a size is 1+ hex digits (no
 * sign, no whitespace, bounded), optional extensions (any bytes but CR, LF
 * and CTLs, bounded), CRLF; each chunk's data is followed by CRLF exactly;
 * the last chunk (size 0) is followed by trailer lines (bounded) and CRLF.
 * Anything else is `KEEL_GW_BAD_REQUEST`.
 */
export class ChunkedFraming implements BodyFraming {
  #state = State.Size;
  #digits = 0;
  #size = 0;
  #lineBytes = 0;
  #trailerBytes = 0;
  /** In the trailer section: bytes of the current trailer line so far (0: at a line start). */
  #trailerLine = 0;
  #sawCr = false;
  payloadBytes = 0;
  /** Given each run of chunk data (a client that wants the payload, such as keel load); the proxy passes none. */
  readonly #onPayload: ((chunk: Buffer, start: number, end: number) => void) | undefined;

  constructor(onPayload?: (chunk: Buffer, start: number, end: number) => void) {
    this.#onPayload = onPayload;
  }

  get done(): boolean {
    return this.#state === State.Done;
  }

  consume(chunk: Buffer, offset: number): number {
    let at = offset;
    while (at < chunk.length && this.#state !== State.Done) {
      if (this.#state === State.Data) {
        const take = Math.min(this.#size, chunk.length - at);
        this.#size -= take;
        this.payloadBytes += take;
        if (this.#onPayload !== undefined && take > 0) this.#onPayload(chunk, at, at + take);
        at += take;
        if (this.#size === 0) this.#state = State.DataCr;
        continue;
      }
      this.#step(chunk[at]!);
      at++;
    }
    return at - offset;
  }

  #step(byte: number): void {
    switch (this.#state) {
      case State.Size: return this.#sizeDigit(byte);
      case State.SizeLine: return this.#sizeLine(byte);
      case State.DataCr:
        if (byte !== CR) throw badRequest('chunk data not followed by CRLF');
        this.#state = State.DataLf;
        return;
      case State.DataLf:
        if (byte !== LF) throw badRequest('chunk data not followed by CRLF');
        this.#state = State.Size;
        return;
      case State.Trailer: return this.#trailer(byte);
      default: return;
    }
  }

  #sizeDigit(byte: number): void {
    const value = HEX[byte]!;
    if (value >= 0) {
      if (++this.#digits > CHUNK_SIZE_DIGITS_MAX) throw badRequest('chunk size too large');
      this.#size = this.#size * 16 + value;
      return;
    }
    if (this.#digits === 0) throw badRequest('invalid chunk size');
    this.#state = State.SizeLine;
    this.#lineBytes = 0;
    this.#sawCr = false;
    this.#sizeLine(byte);
  }

  /** After the size: `;ext...` then CRLF. */
  #sizeLine(byte: number): void {
    if (++this.#lineBytes > CHUNK_LINE_BYTES_MAX) throw badRequest('chunk extensions too long');
    if (this.#sawCr) {
      if (byte !== LF) throw badRequest('bare CR in a chunk-size line');
      this.#digits = 0;
      if (this.#size === 0) {
        this.#state = State.Trailer;
        this.#trailerLine = 0;
        this.#sawCr = false;
        return;
      }
      this.#state = State.Data;
      return;
    }
    if (byte === CR) {
      this.#sawCr = true;
      return;
    }
    if (this.#lineBytes === 1 && byte !== 0x3b) throw badRequest('invalid chunk size');
    if (byte === LF) throw badRequest('bare LF in a chunk-size line');
    if (byte < 0x20 && byte !== 9) throw badRequest('control character in a chunk extension');
  }

  /** Trailer lines (passed through as they are), then an empty line. */
  #trailer(byte: number): void {
    if (++this.#trailerBytes > CHUNK_TRAILER_BYTES_MAX) throw badRequest('trailer section too long');
    if (this.#sawCr) {
      if (byte !== LF) throw badRequest('bare CR in the trailer section');
      this.#sawCr = false;
      if (this.#trailerLine === 0) this.#state = State.Done;
      this.#trailerLine = 0;
      return;
    }
    if (byte === CR) {
      this.#sawCr = true;
      return;
    }
    if (byte === LF) throw badRequest('bare LF in the trailer section');
    this.#trailerLine++;
  }
}

/** The framing for a parsed head's `framing`. */
export function framingFor(framing: number | 'chunked' | 'close'): BodyFraming {
  if (framing === 'chunked') return new ChunkedFraming();
  if (framing === 'close') return new CloseFraming();
  return new LengthFraming(framing);
}
