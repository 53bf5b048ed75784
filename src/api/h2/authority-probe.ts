import { GRPC_PROBE_BYTES_MAX } from '../limits.js';
import { HpackDecoder, HpackError } from './hpack.js';
import { FLAG_ACK, FLAG_END_HEADERS, FRAME_HEADER_BYTES, TYPE_CONTINUATION, TYPE_HEADERS, TYPE_PING, TYPE_SETTINGS, frame, headerBlockFragment } from './frames.js';

/**
 * Decides, before a gRPC connection is handed to grpc-js, whether its
 * :authority needs authority-rewrite.ts (client-port.ts says why the
 * rewriter exists and what each answer costs).
 *
 * A connection can be handed to grpc-js's HTTP/2 server as it is (no byte
 * of it passes through JavaScript again) only if no request on it carries
 * an :authority with a '/'. That is known from the first request's header
 * block: a gRPC client sends one authority per connection (its target). But
 * a client such as grpc-go sends no request before it has the server's
 * connection preface (a SETTINGS frame), and the server that would send it
 * is the one the decision is for. So the client port answers the preface
 * itself with an empty SETTINGS frame (SERVER_SETTINGS_FRAME: every
 * setting at its default) and this probe reads the client's frames until
 * it has both
 *
 * - the first header block, decoded: `direct` if its :authority has no
 *   '/', `rewrite` if it has one or cannot be decoded (authority-rewrite.ts
 *   then judges it as before); and
 * - the client's SETTINGS ACK for that empty SETTINGS, which is dropped:
 *   grpc-js's HTTP/2 server sends its own SETTINGS afterwards (HTTP/2
 *   allows a server several) and would take an ACK it did not ask for as a
 *   protocol error. Waiting for the ACK is what lets every byte after the
 *   decision pass untouched.
 *
 * Meanwhile the client's PINGs are answered here (an ACK with the same
 * payload) and dropped, so a client that measures liveness by PING does
 * not time out; every other frame is kept, in order, for grpc-js. A
 * client that sends more than GRPC_PROBE_BYTES_MAX first is cut: a conforming
 * one sends a SETTINGS frame, a WINDOW_UPDATE or two and a request.
 *
 * A later request on the same connection with a '/' in its :authority
 * reaches grpc-js as it is if the first one had none (nghttp2 resets that
 * stream); no gRPC client changes its authority within a connection.
 */

/** The server connection preface the client port sends for grpc-js: a SETTINGS frame with no settings (all defaults). */
export const SERVER_SETTINGS_FRAME: Buffer = frame(TYPE_SETTINGS, 0, 0, new Uint8Array(0));

const PING_PAYLOAD_BYTES = 8;

export type ProbeDecision = 'direct' | 'rewrite';

export class H2ProbeError extends Error {
  readonly code = 'KEEL_API_H2_PROBE';
  constructor(message: string) {
    super(message);
    this.name = 'H2ProbeError';
  }
}

export class AuthorityProbe {
  /** Bytes not yet parsed into a whole frame. */
  #unparsed: Buffer = Buffer.alloc(0);
  /** Frames kept for grpc-js, in order. */
  readonly #kept: Buffer[] = [];
  #bytesSeen = 0;
  #ackSeen = false;
  #firstBlock: ProbeDecision | undefined;
  /** The first header block while it spans HEADERS + CONTINUATION frames. */
  #pending: { streamId: number; fragments: Buffer[] } | undefined;
  readonly #decoder = new HpackDecoder();

  /** Whether the client acknowledged the port's SETTINGS frame (and the probe dropped that ACK). */
  get settingsAcknowledged(): boolean {
    return this.#ackSeen;
  }

  /** `direct` or `rewrite` once both the first header block and the SETTINGS ACK were seen; undefined before. */
  get decision(): ProbeDecision | undefined {
    return this.#ackSeen ? this.#firstBlock : undefined;
  }

  /**
   * Reads client bytes (those after the 24-byte client preface) and returns
   * the frames to send the client (PING ACKs). Call it until `decision` is
   * set, then not again: take() has the bytes for grpc-js. Throws
   * H2ProbeError past GRPC_PROBE_BYTES_MAX.
   */
  push(chunk: Buffer): Buffer[] {
    if (this.decision !== undefined) throw new H2ProbeError('push after the decision');
    this.#bytesSeen += chunk.length;
    if (this.#bytesSeen > GRPC_PROBE_BYTES_MAX) throw new H2ProbeError(`more than ${GRPC_PROBE_BYTES_MAX} bytes before the first request`);
    this.#unparsed = this.#unparsed.length === 0 ? chunk : Buffer.concat([this.#unparsed, chunk]);
    const replies: Buffer[] = [];
    while (this.decision === undefined && this.#unparsed.length >= FRAME_HEADER_BYTES) {
      const length = this.#unparsed.readUIntBE(0, 3);
      if (this.#unparsed.length < FRAME_HEADER_BYTES + length) break;
      const raw = this.#unparsed.subarray(0, FRAME_HEADER_BYTES + length);
      this.#unparsed = this.#unparsed.subarray(FRAME_HEADER_BYTES + length);
      const reply = this.#onFrame(raw);
      if (reply) replies.push(reply);
    }
    return replies;
  }

  /** What grpc-js gets: the kept frames and any bytes after them, in the client's order (the 24-byte preface not included). */
  take(): Buffer {
    return Buffer.concat([...this.#kept, this.#unparsed]);
  }

  #onFrame(raw: Buffer): Buffer | undefined {
    const type = raw[3]!;
    const flags = raw[4]!;
    const streamId = raw.readUInt32BE(5) & 0x7fffffff;
    const payload = raw.subarray(FRAME_HEADER_BYTES);
    if (type === TYPE_SETTINGS && flags & FLAG_ACK && !this.#ackSeen) {
      this.#ackSeen = true;
      return undefined;
    }
    if (type === TYPE_PING && (flags & FLAG_ACK) === 0 && streamId === 0 && payload.length === PING_PAYLOAD_BYTES) {
      return frame(TYPE_PING, FLAG_ACK, 0, payload);
    }
    this.#kept.push(raw);
    if (this.#firstBlock === undefined) this.#onFrameBeforeFirstBlock(type, flags, streamId, payload);
    return undefined;
  }

  #onFrameBeforeFirstBlock(type: number, flags: number, streamId: number, payload: Buffer): void {
    if (this.#pending && (type !== TYPE_CONTINUATION || this.#pending.streamId !== streamId)) {
      // Nothing may come between a HEADERS frame and its CONTINUATIONs: a broken client, for the rewriter to judge.
      this.#firstBlock = 'rewrite';
      return;
    }
    if (type === TYPE_HEADERS) {
      this.#pending = { streamId, fragments: [headerBlockFragment(flags, payload).fragment] };
    } else if (type === TYPE_CONTINUATION && this.#pending) {
      this.#pending.fragments.push(payload);
    } else {
      return;
    }
    if ((flags & FLAG_END_HEADERS) === 0) return;
    const fragments = this.#pending.fragments;
    this.#pending = undefined;
    this.#firstBlock = this.#classify(Buffer.concat(fragments));
  }

  #classify(block: Buffer): ProbeDecision {
    try {
      const fields = this.#decoder.decode(block);
      return fields.some((field) => field.name === ':authority' && field.value.includes('/')) ? 'rewrite' : 'direct';
    } catch (error) {
      if (error instanceof HpackError) return 'rewrite';
      throw error;
    }
  }
}
