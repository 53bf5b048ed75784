import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { ByteString } from '../../src/store/bytes.js';
import { compareByteStrings, fromByteString, toByteString } from '../../src/store/bytes.js';

/** The definition the native conversions must match: one code unit per byte, of the same value. */
function referenceString(bytes: Uint8Array): string {
  let text = '';
  for (const byte of bytes) text += String.fromCharCode(byte);
  return text;
}

function patterned(length: number, offset = 0): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = (i * 37 + offset) & 0xff;
  return bytes;
}

function assertPlainCopy(actual: Uint8Array, expected: Uint8Array): void {
  assert.equal(Object.getPrototypeOf(actual), Uint8Array.prototype, 'a plain Uint8Array, never a (pooled) Buffer');
  assert.equal(actual.byteOffset, 0);
  assert.equal(actual.buffer.byteLength, expected.length, 'its own memory, not a slice of a shared pool');
  assert.deepEqual(actual, expected);
}

test('every byte value, 0x80..0xff included, becomes the code unit of the same value and back', () => {
  const all = new Uint8Array(256).map((_, i) => i);
  const text = toByteString(all);
  assert.equal(text.length, 256);
  for (let i = 0; i < 256; i++) assert.equal(text.charCodeAt(i), i);
  assert.equal(text, referenceString(all));
  assertPlainCopy(fromByteString(text), all);
});

test('lengths on both sides of the native thresholds and the loop chunk convert alike', () => {
  for (const length of [0, 1, 2, 63, 127, 128, 129, 255, 4096, 8191, 8192, 8193, 65_536, 1_048_576, 1_048_577]) {
    const bytes = patterned(length);
    const text = toByteString(bytes);
    assert.equal(text, referenceString(bytes), `toByteString at ${length} bytes`);
    assertPlainCopy(fromByteString(text), bytes);
  }
});

test('a view into a larger buffer converts only its own bytes', () => {
  const whole = patterned(4096, 5);
  for (const [start, end] of [[1, 3], [100, 300], [7, 4000]] as const) {
    const view = whole.subarray(start, end);
    assert.equal(toByteString(view), referenceString(view));
    assertPlainCopy(fromByteString(toByteString(view)), view);
  }
});

test('the result does not alias the input: writing to either later changes nothing', () => {
  const bytes = patterned(1000);
  const text = toByteString(bytes);
  bytes[0] = bytes[0]! ^ 0xff;
  assert.equal(text, referenceString(patterned(1000)));
  const back = fromByteString(text);
  back[1] = back[1]! ^ 0xff;
  assert.equal(text, referenceString(patterned(1000)));
});

test('property: conversions match the reference, round-trip, and keep byte order', () => {
  const someBytes = fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.uint8Array({ minLength: 100, maxLength: 20_000 }));
  fc.assert(
    fc.property(someBytes, someBytes, (a, b) => {
      const textA = toByteString(a);
      const textB = toByteString(b);
      assert.equal(textA, referenceString(a));
      assert.deepEqual(fromByteString(textA), a);
      assert.equal(Math.sign(compareByteStrings(textA, textB)), Math.sign(Buffer.compare(a, b)));
    }),
    { numRuns: 300 },
  );
});

test('a byte string built by concatenation (not flat) converts as the flat one', () => {
  const head = toByteString(patterned(200, 1));
  const tail = toByteString(patterned(300, 2));
  const joined = (head + tail) as ByteString;
  const expected = new Uint8Array(500);
  expected.set(patterned(200, 1));
  expected.set(patterned(300, 2), 200);
  assertPlainCopy(fromByteString(joined), expected);
});
