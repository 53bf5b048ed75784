/**
 * The few HTTP/2 (RFC 9113) frame facts the client port's byte-level code
 * needs (authority-probe.ts, authority-rewrite.ts): frame layout, the types
 * and flags they look at, writing a frame and finding a header block
 * fragment in a HEADERS payload.
 */

export const FRAME_HEADER_BYTES = 9;
export const TYPE_HEADERS = 0x1;
export const TYPE_SETTINGS = 0x4;
export const TYPE_PING = 0x6;
export const TYPE_CONTINUATION = 0x9;
/** On SETTINGS and PING. */
export const FLAG_ACK = 0x1;
export const FLAG_END_STREAM = 0x1;
export const FLAG_END_HEADERS = 0x4;
export const FLAG_PADDED = 0x8;
export const FLAG_PRIORITY = 0x20;
const PRIORITY_BYTES = 5;

export function frame(type: number, flags: number, streamId: number, payload: Uint8Array): Buffer {
  const out = Buffer.alloc(FRAME_HEADER_BYTES + payload.length);
  out.writeUIntBE(payload.length, 0, 3);
  out[3] = type;
  out[4] = flags;
  out.writeUInt32BE(streamId & 0x7fffffff, 5);
  out.set(payload, FRAME_HEADER_BYTES);
  return out;
}

/** A HEADERS frame's payload without its padding: the priority fields (when flagged) and the header block fragment. */
export function headerBlockFragment(flags: number, payload: Buffer): { priority: Buffer | undefined; fragment: Buffer } {
  let offset = 0;
  let padding = 0;
  if (flags & FLAG_PADDED) {
    padding = payload[0] ?? 0;
    offset = 1;
  }
  const priority = flags & FLAG_PRIORITY ? Buffer.from(payload.subarray(offset, offset + PRIORITY_BYTES)) : undefined;
  if (priority) offset += PRIORITY_BYTES;
  return { priority, fragment: payload.subarray(offset, Math.max(offset, payload.length - padding)) };
}
