import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Crc32c } from '../../src/store/hash.js';

test('Crc32c: bytes() in any split equals byte() one at a time, and the standard check value', () => {
  const check = new Crc32c();
  check.bytes(new TextEncoder().encode('123456789'));
  assert.equal(check.value, 0xe3069283, 'CRC-32C check value (RFC 3720)');
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), fc.array(fc.nat(300), { maxLength: 5 }), fc.nat(255), (data, cuts, lead) => {
      const oneByOne = new Crc32c();
      const split = new Crc32c();
      oneByOne.byte(lead);
      split.byte(lead);
      for (const value of data) oneByOne.byte(value);
      let from = 0;
      for (const cut of [...cuts.map((c) => Math.min(c, data.length))].sort((a, b) => a - b)) {
        split.bytes(data.subarray(from, Math.max(from, cut)));
        from = Math.max(from, cut);
      }
      split.bytes(data.subarray(from));
      assert.equal(split.value, oneByOne.value);
    }),
  );
});
