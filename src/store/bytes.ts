import { bytesToFill, latin1FromBytes, latin1IntoBytes } from '../codec/index.js';

/**
 * Keys and values are bytes. Inside the store they are held as *byte
 * strings*: JavaScript strings whose every code unit is one byte (0..255).
 * V8 keeps such strings as one-byte sequential strings, about 16 bytes of
 * overhead against some 200 for a small Uint8Array; `<` on them is byte
 * order (etcd's bytes.Compare); they hash in a Map; and they are immutable,
 * so stored values can be handed around without defensive copies. The
 * public API speaks Uint8Array; conversion happens at the edge.
 */
export type ByteString = string & { readonly __byteString: unique symbol };

const EMPTY = '' as ByteString;

/** A copy of `bytes` as a byte string (natively where Node's Buffer is there: src/codec/latin1.ts). */
export function toByteString(bytes: Uint8Array): ByteString {
  return bytes.length === 0 ? EMPTY : (latin1FromBytes(bytes) as ByteString);
}

/** A fresh plain Uint8Array (never a pooled Buffer: callers may keep it, and tests compare prototypes); large ones skip the zero fill, as every byte is written. */
export function fromByteString(text: ByteString): Uint8Array {
  const bytes = bytesToFill(text.length);
  latin1IntoBytes(text, bytes, 0);
  return bytes;
}

/** Byte order, as Go's bytes.Compare: negative, zero or positive. */
export function compareByteStrings(a: ByteString, b: ByteString): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The range_end that selects every key with `prefix` as a prefix (etcd's
 * clientv3.GetPrefixRangeEnd): the prefix with its last byte below 0xff
 * incremented and what follows dropped; [0] ("to the end") when every byte is 0xff.
 */
export function prefixRangeEnd(prefix: Uint8Array): Uint8Array {
  for (let i = prefix.length - 1; i >= 0; i--) {
    const byte = prefix[i]!;
    if (byte < 0xff) {
      const end = prefix.slice(0, i + 1);
      end[i] = byte + 1;
      return end;
    }
  }
  return new Uint8Array([0]);
}

/**
 * A range of keys [start, end) in etcd's conventions. `end === null` means
 * no upper bound. A single key k is the range [k, k + "\0"), since k + "\0"
 * is the next key after k in byte order.
 */
export interface KeyRange {
  readonly start: ByteString;
  readonly end: ByteString | null;
}

/**
 * etcd's range_end conventions: empty range_end selects the single `key`;
 * range_end "\0" selects every key >= `key`; otherwise [key, range_end).
 */
export function toKeyRange(key: Uint8Array, rangeEnd: Uint8Array | undefined): KeyRange {
  const start = toByteString(key);
  if (rangeEnd === undefined || rangeEnd.length === 0) return { start, end: (start + '\0') as ByteString };
  if (rangeEnd.length === 1 && rangeEnd[0] === 0) return { start, end: null };
  return { start, end: toByteString(rangeEnd) };
}

export function inKeyRange(range: KeyRange, key: ByteString): boolean {
  return key >= range.start && (range.end === null || key < range.end);
}
