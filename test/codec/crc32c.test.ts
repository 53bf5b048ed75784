import assert from 'node:assert/strict';
import { it } from 'node:test';
import { crc32c, crc32cCombine } from '../../src/codec/crc32c.js';

it('crc32c matches the published check value and RFC 3720 vectors', () => {
  assert.equal(crc32c(new TextEncoder().encode('123456789')), 0xe3069283);
  assert.equal(crc32c(new Uint8Array(32)), 0x8a9136aa);
  assert.equal(crc32c(new Uint8Array(32).fill(0xff)), 0x62a8ab43);
  assert.equal(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i)), 0x46dd794e);
});

it('crc32c continues from a seed exactly as over the concatenation, and honours start/end', () => {
  const bytes = Uint8Array.from({ length: 1000 }, (_, i) => (i * 7919) & 0xff);
  for (const split of [0, 1, 7, 8, 9, 500, 999, 1000]) {
    assert.equal(crc32c(bytes.subarray(split), crc32c(bytes.subarray(0, split))), crc32c(bytes));
  }
  assert.equal(crc32c(bytes, 0, 13, 700), crc32c(bytes.subarray(13, 700)));
});

it('crc32cCombine gives the checksum of the concatenation from the two parts', () => {
  const bytes = Uint8Array.from({ length: 5000 }, (_, i) => (i * 2654435761) >>> 24);
  for (const split of [0, 1, 3, 8, 100, 2047, 4999, 5000]) {
    const head = bytes.subarray(0, split);
    const tail = bytes.subarray(split);
    assert.equal(crc32cCombine(crc32c(head), crc32c(tail), tail.length), crc32c(bytes), `split at ${split}`);
  }
});
