/**
 * Byte strings (strings whose every code unit is one byte, 0..255) to and
 * from bytes. A byte string is exactly the Latin-1 decoding of its bytes,
 * 0x80..0xff included, so Node's own Latin-1 codec in C++ (`latin1Slice`,
 * `latin1Write` on Buffer.prototype) converts with one copy where a loop of
 * JavaScript per byte took 12% of a member's CPU at scale and held its
 * event loop for milliseconds per MiB value (issue 14). Buffer is looked up
 * on the global, not imported, so the store and this codec stay free of
 * `node:` imports, and fall back to the loops where there is no Buffer.
 * Both are deterministic functions of their input, reading no clock and
 * doing no I/O, which is what the purity rule (test/store/purity.test.ts)
 * is for.
 */
interface Latin1Methods {
  latin1Slice(this: Uint8Array, start: number, end: number): string;
  latin1Write(this: Uint8Array, text: string, offset: number, length: number): number;
}

const NATIVE = (globalThis as { Buffer?: { prototype: Latin1Methods } }).Buffer?.prototype;
/**
 * Under this many code units a loop writes faster than the native call's
 * fixed cost (about 0.3 µs; bench/byte-strings.ts). Slicing has no such
 * cost worth a branch: it wins from a few bytes on.
 */
const NATIVE_WRITE_UNITS_MIN = 128;
const FROM_CHAR_CODE_CHUNK = 8192;

/** The byte string of `bytes[start, end)`: a copy, which later writes to `bytes` leave alone. */
export function latin1FromBytes(bytes: Uint8Array, start = 0, end = bytes.length): string {
  if (end <= start) return '';
  if (NATIVE !== undefined) return NATIVE.latin1Slice.call(bytes, start, end);
  let text = '';
  for (let offset = start; offset < end; offset += FROM_CHAR_CODE_CHUNK) {
    const chunk = bytes.subarray(offset, Math.min(end, offset + FROM_CHAR_CODE_CHUNK));
    text += String.fromCharCode.apply(null, chunk as unknown as number[]);
  }
  return text;
}

/**
 * Writes the byte string `text` into `bytes` at `offset`, one byte per
 * code unit; the caller has made room for `text.length` bytes there.
 */
export function latin1IntoBytes(text: string, bytes: Uint8Array, offset: number): void {
  if (offset < 0 || offset + text.length > bytes.length) throw new RangeError(`no room for ${text.length} bytes at ${offset} of ${bytes.length}`);
  if (NATIVE !== undefined && text.length >= NATIVE_WRITE_UNITS_MIN) {
    const written = NATIVE.latin1Write.call(bytes, text, offset, text.length);
    if (written !== text.length) throw new RangeError(`wrote ${written} of ${text.length} bytes`);
    return;
  }
  for (let i = 0, at = offset; i < text.length; i++, at++) bytes[at] = text.charCodeAt(i);
}
