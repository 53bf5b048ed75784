import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ByteReader, ByteWriter, latin1FromBytes, latin1IntoBytes } from '../../src/codec/index.js';

/** The definition: one code unit per byte, of the same value. */
function referenceString(bytes: Uint8Array): string {
  let text = '';
  for (const byte of bytes) text += String.fromCharCode(byte);
  return text;
}

const ALL_BYTES = new Uint8Array(256).map((_, i) => i);

describe('latin1', () => {
  it('maps every byte, 0x80..0xff included, to the code unit of the same value and back', () => {
    const text = latin1FromBytes(ALL_BYTES);
    assert.equal(text, referenceString(ALL_BYTES));
    const back = new Uint8Array(256);
    latin1IntoBytes(text, back, 0);
    assert.deepEqual(back, ALL_BYTES);
  });

  it('slices [start, end) only, and writes at an offset without touching the bytes around it', () => {
    assert.equal(latin1FromBytes(ALL_BYTES, 200, 210), referenceString(ALL_BYTES.subarray(200, 210)));
    assert.equal(latin1FromBytes(ALL_BYTES, 5, 5), '');
    for (const length of [3, 127, 128, 200]) {
      const target = new Uint8Array(length + 20).fill(0xaa);
      const text = referenceString(ALL_BYTES.subarray(256 - length));
      latin1IntoBytes(text, target, 10);
      assert.deepEqual(target.subarray(10, 10 + length), ALL_BYTES.subarray(256 - length));
      assert.ok(target.subarray(0, 10).every((byte) => byte === 0xaa));
      assert.ok(target.subarray(10 + length).every((byte) => byte === 0xaa));
    }
  });

  it('refuses to write past the end', () => {
    assert.throws(() => latin1IntoBytes('abc', new Uint8Array(4), 2), RangeError);
    assert.throws(() => latin1IntoBytes('x'.repeat(200), new Uint8Array(300), 101), RangeError);
  });

  it('property: the writer’s byte strings read back as the same bytes, at any length', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 3000 }), { maxLength: 6 }), (values) => {
        const writer = new ByteWriter(16);
        for (const value of values) writer.binaryStringWithVaruintLength(referenceString(value));
        const reader = new ByteReader(writer.finish());
        for (const value of values) assert.deepEqual(reader.bytesWithVaruintLength(), value);
      }),
      { numRuns: 200 },
    );
  });
});
