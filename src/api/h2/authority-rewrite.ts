import { Transform } from 'node:stream';
import type { TransformCallback } from 'node:stream';
import { HpackDecoder, HpackError, encodeLiterals } from './hpack.js';
import type { HeaderField } from './hpack.js';
import { FLAG_END_HEADERS, FLAG_END_STREAM, FLAG_PRIORITY, FRAME_HEADER_BYTES, TYPE_CONTINUATION, TYPE_HEADERS, frame, headerBlockFragment } from './frames.js';

/**
 * Rewrites the `:authority` of gRPC requests on their way from a client to
 * grpc-js, on the byte stream after the HTTP/2 preface.
 *
 * Why: etcd's Go client, given one endpoint as a URL
 * (`etcdctl --endpoints=http://127.0.0.1:2379 endpoint status`), dials
 * "passthrough:///http://127.0.0.1:2379" and sends that URL as :authority.
 * grpc-go servers ignore it; Node's HTTP/2 stack (nghttp2) resets any stream
 * whose :authority holds a '/', so keel answered PROTOCOL_ERROR. Here such an
 * authority becomes its host:port.
 *
 * How: every header block the client sends is decoded (HPACK is stateful, so
 * the decoder must see all of them). Blocks pass through byte for byte until
 * the first one that needs a rewrite; from then on every block is re-encoded
 * as literals without indexing, which never refers to or changes grpc-js's
 * dynamic table, so its decoder stays consistent although it never saw the
 * client's later insertions. A well-behaved client's bytes are never changed.
 * If a block cannot be decoded before any rewrite, inspection stops and the
 * connection passes through untouched (grpc-js judges it); after a rewrite
 * the connection is cut, since passing on would corrupt its header state.
 */

/** HTTP/2's default SETTINGS_MAX_FRAME_SIZE: what a re-encoded frame may carry (grpc-js keeps the default). */
const FRAME_PAYLOAD_MAX = 16_384;
/** A frame larger than HTTP/2 allows any peer to send (2^24 - 1) cannot occur; one header block across CONTINUATIONs is bounded here. */
const HEADER_BLOCK_BYTES_MAX = 256 * 1024;

type Mode = 'inspect' | 'rewrite' | 'passthrough';

interface PendingBlock {
  streamId: number;
  flags: number;
  priority: Buffer | undefined;
  fragments: Buffer[];
  raw: Buffer[];
  bytes: number;
}

/** The authority a client meant: "http://host:port/..." -> "host:port". Values without '/' are returned as they are. */
export function fixAuthority(value: string): string {
  if (!value.includes('/')) return value;
  const afterScheme = value.includes('://') ? value.slice(value.indexOf('://') + 3) : value;
  const slash = afterScheme.indexOf('/');
  const authority = slash >= 0 ? afterScheme.slice(0, slash) : afterScheme;
  return authority.length > 0 ? authority : 'localhost';
}

function needsRewrite(fields: readonly HeaderField[]): boolean {
  return fields.some((field) => field.name === ':authority' && field.value.includes('/'));
}

export class AuthorityRewriter extends Transform {
  #mode: Mode = 'inspect';
  #buffer: Buffer = Buffer.alloc(0);
  readonly #decoder = new HpackDecoder();
  /** A header block spread over HEADERS + CONTINUATION frames, while it is incomplete. */
  #pending: PendingBlock | undefined;
  /** Blocks rewritten so far (for metrics and tests). */
  rewrites = 0;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (this.#mode === 'passthrough') {
      callback(null, chunk);
      return;
    }
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
    try {
      this.#drainFrames();
      callback();
    } catch (error) {
      callback(error as Error);
    }
  }

  #drainFrames(): void {
    while (this.#buffer.length >= FRAME_HEADER_BYTES) {
      const length = this.#buffer.readUIntBE(0, 3);
      if (this.#buffer.length < FRAME_HEADER_BYTES + length) return;
      const raw = this.#buffer.subarray(0, FRAME_HEADER_BYTES + length);
      this.#buffer = this.#buffer.subarray(FRAME_HEADER_BYTES + length);
      this.#onFrame(raw);
      if (this.#mode === 'passthrough') {
        if (this.#buffer.length > 0) this.push(this.#buffer);
        this.#buffer = Buffer.alloc(0);
        return;
      }
    }
  }

  #onFrame(raw: Buffer): void {
    const type = raw[3]!;
    const flags = raw[4]!;
    const streamId = raw.readUInt32BE(5) & 0x7fffffff;
    const payload = raw.subarray(FRAME_HEADER_BYTES);
    if (this.#pending && (type !== TYPE_CONTINUATION || this.#pending.streamId !== streamId)) {
      // HTTP/2 allows nothing between a HEADERS frame and its CONTINUATIONs: a broken client.
      if (this.#mode === 'rewrite') throw new HpackError('frame interleaved in a header block');
      for (const pendingRaw of this.#pending.raw) this.push(pendingRaw);
      this.#pending = undefined;
      this.push(raw);
      this.#mode = 'passthrough';
      return;
    }
    if (type === TYPE_HEADERS) {
      const { priority, fragment } = headerBlockFragment(flags, payload);
      this.#pending = { streamId, flags, priority, fragments: [fragment], raw: [raw], bytes: fragment.length };
    } else if (type === TYPE_CONTINUATION && this.#pending) {
      this.#pending.fragments.push(payload);
      this.#pending.raw.push(raw);
      this.#pending.bytes += payload.length;
    } else {
      this.push(raw);
      return;
    }
    if (this.#pending.bytes > HEADER_BLOCK_BYTES_MAX) throw new HpackError('header block too large');
    if ((flags & FLAG_END_HEADERS) === 0) return;
    const block = this.#pending;
    this.#pending = undefined;
    this.#onBlock(block);
  }

  #onBlock(block: PendingBlock): void {
    let fields: HeaderField[];
    try {
      fields = this.#decoder.decode(Buffer.concat(block.fragments));
    } catch (error) {
      if (this.#mode === 'rewrite') throw error;
      // Undecodable before any rewrite: stop looking and let grpc-js judge the connection.
      this.#mode = 'passthrough';
      for (const raw of block.raw) this.push(raw);
      return;
    }
    if (this.#mode === 'inspect' && !needsRewrite(fields)) {
      for (const raw of block.raw) this.push(raw);
      return;
    }
    this.#mode = 'rewrite';
    this.rewrites++;
    const fixed = fields.map((field) => (field.name === ':authority' ? { name: field.name, value: fixAuthority(field.value) } : field));
    const encoded = encodeLiterals(fixed);
    const head = block.priority ? Buffer.concat([block.priority, encoded]) : Buffer.from(encoded);
    const endStream = block.flags & FLAG_END_STREAM;
    const priorityFlag = block.priority ? FLAG_PRIORITY : 0;
    if (head.length <= FRAME_PAYLOAD_MAX) {
      this.push(frame(TYPE_HEADERS, endStream | priorityFlag | FLAG_END_HEADERS, block.streamId, head));
      return;
    }
    this.push(frame(TYPE_HEADERS, endStream | priorityFlag, block.streamId, head.subarray(0, FRAME_PAYLOAD_MAX)));
    for (let offset = FRAME_PAYLOAD_MAX; offset < head.length; offset += FRAME_PAYLOAD_MAX) {
      const last = offset + FRAME_PAYLOAD_MAX >= head.length;
      this.push(frame(TYPE_CONTINUATION, last ? FLAG_END_HEADERS : 0, block.streamId, head.subarray(offset, offset + FRAME_PAYLOAD_MAX)));
    }
  }
}
