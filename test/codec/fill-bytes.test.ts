import assert from 'node:assert/strict';
import { it } from 'node:test';
import { ByteReader, ByteWriter } from '../../src/codec/bytes.js';
import { bytesToFill, UNFILLED_BYTES_MIN } from '../../src/codec/fill-bytes.js';

it('bytesToFill gives plain Uint8Arrays over their own buffer, small or large: slice() copies, as callers expect', () => {
  for (const length of [0, 1, UNFILLED_BYTES_MIN - 1, UNFILLED_BYTES_MIN, 3 << 20]) {
    const bytes = bytesToFill(length);
    assert.equal(Object.getPrototypeOf(bytes), Uint8Array.prototype, `${length}: not a Buffer, whose slice() is a view`);
    assert.equal(bytes.length, length);
    assert.equal(bytes.byteOffset, 0);
    assert.equal(bytes.buffer.byteLength, length);
    if (length === 0) continue;
    bytes.fill(5);
    const copy = bytes.slice();
    copy[0] = 6;
    assert.equal(bytes[0], 5);
  }
  assert.deepEqual(bytesToFill(16), new Uint8Array(16), 'small arrays are zeroed as usual');
});

it('a ByteWriter growing through unfilled buffers hands out exactly what it wrote', () => {
  const writer = new ByteWriter(8);
  const chunk = Uint8Array.from({ length: 40_000 }, (_, i) => (i * 31) & 0xff);
  for (let i = 0; i < 10; i++) writer.u32le(i).bytesWithVaruintLength(chunk).pad(8);
  const reader = new ByteReader(writer.finish());
  for (let i = 0; i < 10; i++) {
    assert.equal(reader.u32le(), i);
    assert.deepEqual(reader.bytesWithVaruintLength(), chunk);
    const misaligned = reader.offset % 8;
    if (misaligned !== 0) for (const byte of reader.raw(8 - misaligned)) assert.equal(byte, 0, 'padding is zero, not whatever the allocator held');
  }
  assert.equal(reader.remaining, 0);
});
