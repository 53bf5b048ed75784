/**
 * What a normal log entry carries: the id of the request that proposed it
 * and the store command. Every member applies every entry; the member that
 * took the request from a client finds its id and answers, which is how a
 * follower answers a write it forwarded to the leader.
 *
 * Layout: [version = 1][id length: u8][id: UTF-8][command bytes].
 */
const VERSION = 1;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeEnvelope(requestId: string, command: Uint8Array): Uint8Array {
  const id = encoder.encode(requestId);
  if (id.length > 255) throw new RangeError('request id longer than 255 bytes');
  const out = new Uint8Array(2 + id.length + command.length);
  out[0] = VERSION;
  out[1] = id.length;
  out.set(id, 2);
  out.set(command, 2 + id.length);
  return out;
}

/** Returns undefined for bytes that are not an envelope (the state machine then rejects the entry). */
export function decodeEnvelope(data: Uint8Array): { requestId: string; command: Uint8Array } | undefined {
  if (data.length < 2 || data[0] !== VERSION || data.length < 2 + data[1]!) return undefined;
  const length = data[1]!;
  return { requestId: decoder.decode(data.subarray(2, 2 + length)), command: data.subarray(2 + length) };
}
