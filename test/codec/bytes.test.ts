import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ByteReader, ByteWriter } from '../../src/codec/index.js';

/**
 * Hand-written bytes for every primitive: the WAL, snapshot files, store
 * commands and store snapshots are made of these, so their bytes must never
 * change.
 */
describe('byte writer and reader', () => {
  it('write each primitive as the formats on disk expect', () => {
    const written = new ByteWriter(1)
      .u8(0xfe)
      .bool(true)
      .u16le(0x0102)
      .u32le(0x01020304)
      .u32be(0x01020304)
      .u64le(2 ** 32 + 5)
      .i64be(-2n)
      .varuint(300)
      .varint(-3)
      .bytesWithU32Length(Uint8Array.of(9))
      .stringWithU32Length('é')
      .bytesWithVaruintLength(Uint8Array.of(7, 8))
      .binaryStringWithVaruintLength('\u00ff\u0000')
      .finish();
    assert.deepEqual([...written], [
      0xfe, 1,
      0x02, 0x01,
      0x04, 0x03, 0x02, 0x01,
      0x01, 0x02, 0x03, 0x04,
      5, 0, 0, 0, 1, 0, 0, 0,
      0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe,
      0xac, 0x02,
      5,
      1, 0, 0, 0, 9,
      2, 0, 0, 0, 0xc3, 0xa9,
      2, 7, 8,
      2, 0xff, 0,
    ]);
    const reader = new ByteReader(written);
    assert.equal(reader.u8(), 0xfe);
    assert.equal(reader.bool(), true);
    assert.equal(reader.u16le(), 0x0102);
    assert.equal(reader.u32le(), 0x01020304);
    assert.equal(reader.u32be(), 0x01020304);
    assert.equal(reader.u64le(), 2 ** 32 + 5);
    assert.equal(reader.i64be(), -2n);
    assert.equal(reader.varuint(), 300);
    assert.equal(reader.varint(), -3);
    assert.deepEqual(reader.bytesWithU32Length(1), Uint8Array.of(9));
    assert.equal(reader.stringWithU32Length(2), 'é');
    assert.deepEqual(reader.bytesWithVaruintLength(), Uint8Array.of(7, 8));
    assert.deepEqual(reader.bytesWithVaruintLength(), Uint8Array.of(0xff, 0));
    reader.expectEnd();
  });

  it('pads and patches a checksum in place', () => {
    const writer = new ByteWriter().u32le(0).u8(1).pad(8);
    writer.patchU32le(0, 0xdeadbeef);
    assert.deepEqual([...writer.finish()], [0xef, 0xbe, 0xad, 0xde, 1, 0, 0, 0]);
  });

  it('refuses values the encodings cannot hold, and malformed input, with typed errors', () => {
    assert.throws(() => new ByteWriter().varuint(-1), { code: 'KEEL_CODEC_UNENCODABLE_VALUE' });
    assert.throws(() => new ByteWriter().u64le(2 ** 53), RangeError);
    assert.throws(() => new ByteWriter().varint(2 ** 52), { code: 'KEEL_CODEC_UNENCODABLE_VALUE' }, 'its zig-zag form would be 2^53');
    assert.throws(() => new ByteWriter().varint(-(2 ** 52) - 1), { code: 'KEEL_CODEC_UNENCODABLE_VALUE' });
    assert.deepEqual(new ByteReader(new ByteWriter().varint(2 ** 52 - 1).varint(-(2 ** 52)).finish()).varint(), 2 ** 52 - 1, 'both ends of the range encode');
    const malformed = { code: 'KEEL_CODEC_MALFORMED_BYTES' };
    assert.throws(() => new ByteReader(Uint8Array.of(1, 2, 3)).u32le(), malformed);
    assert.throws(() => new ByteReader(Uint8Array.of(1, 2, 3, 4), 0, 3).u32be(), malformed, 'the end bound holds');
    assert.throws(() => new ByteReader(Uint8Array.of(0x80, 0)).varuint(), malformed, 'non-canonical');
    assert.throws(() => new ByteReader(Uint8Array.of(2)).bool(), malformed);
    assert.throws(() => new ByteReader(Uint8Array.of(2, 0, 0, 0, 0xff, 0xff)).stringWithU32Length(8), malformed, 'invalid UTF-8');
    assert.throws(() => new ByteReader(Uint8Array.of(9, 0, 0, 0)).bytesWithU32Length(8), malformed, 'over the bound');
    assert.throws(() => new ByteReader(Uint8Array.of(1, 2)).expectEnd(), malformed);
  });

  it('round-trips varints and 64-bit fields over their whole range', () => {
    fc.assert(
      fc.property(fc.maxSafeNat(), fc.integer({ min: -(2 ** 52), max: 2 ** 52 - 1 }), fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), (natural, integer, big) => {
        const reader = new ByteReader(new ByteWriter(1).varuint(natural).varint(integer).u64le(natural).i64be(big).finish());
        assert.deepEqual([reader.varuint(), reader.varint(), reader.u64le(), reader.i64be()], [natural, integer, natural, big]);
        reader.expectEnd();
      }),
      { numRuns: 300 },
    );
  });
});
