/**
 * The agent protocol's framing: each message is a 4-byte big-endian length
 * and that many bytes of UTF-8 JSON. Frames are bounded; a frame that is too
 * large, is not JSON, or is cut off by the end of the stream is a typed
 * protocol error, never a crash.
 */
import { LoadError } from './errors.js';
import { FRAME_BYTES_MAX } from './limits.js';

const HEADER_BYTES = 4;

export function encodeFrame(message: unknown): Buffer {
  const body = Buffer.from(JSON.stringify(message), 'utf8');
  if (body.length > FRAME_BYTES_MAX) throw new LoadError('KEEL_LOAD_PROTOCOL', `frame of ${body.length} bytes is over the limit of ${FRAME_BYTES_MAX}`);
  const header = Buffer.alloc(HEADER_BYTES);
  header.writeUInt32BE(body.length, 0);
  return Buffer.concat([header, body]);
}

export class FrameDecoder {
  #buffer: Buffer = Buffer.alloc(0);

  /** Adds bytes; returns the whole frames they complete, parsed. Throws KEEL_LOAD_PROTOCOL on a bad frame. */
  push(chunk: Buffer): unknown[] {
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
    const messages: unknown[] = [];
    while (this.#buffer.length >= HEADER_BYTES) {
      const length = this.#buffer.readUInt32BE(0);
      if (length > FRAME_BYTES_MAX) throw new LoadError('KEEL_LOAD_PROTOCOL', `frame length ${length} is over the limit of ${FRAME_BYTES_MAX}`);
      if (this.#buffer.length < HEADER_BYTES + length) break;
      const body = this.#buffer.subarray(HEADER_BYTES, HEADER_BYTES + length);
      this.#buffer = this.#buffer.subarray(HEADER_BYTES + length);
      try {
        messages.push(JSON.parse(body.toString('utf8')));
      } catch {
        throw new LoadError('KEEL_LOAD_PROTOCOL', `frame of ${length} bytes is not JSON`);
      }
    }
    return messages;
  }

  /** The stream ended: a partial frame left over is a truncation. */
  end(): void {
    if (this.#buffer.length > 0) throw new LoadError('KEEL_LOAD_PROTOCOL', `stream ended inside a frame (${this.#buffer.length} bytes of it)`);
  }
}
