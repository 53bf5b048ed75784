import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Crc32c } from '../../src/store/hash.js';
import { Harness } from './helpers.js';
import type { ByteString } from '../../src/store/bytes.js';

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

test('Crc32c: a long byte string (through the scratch buffer) checksums as its bytes one at a time, at every length around the pieces', () => {
  for (const length of [255, 256, 257, 65_535, 65_536, 65_537, 200_001]) {
    const text = Array.from({ length }, (_, i) => String.fromCharCode((i * 131 + 7) & 0xff)).join('');
    const viaString = new Crc32c();
    viaString.byteString(text as ByteString);
    const oneByOne = new Crc32c();
    oneByOne.integer(length);
    for (let i = 0; i < length; i++) oneByOne.byte(text.charCodeAt(i));
    assert.equal(viaString.value, oneByOne.value, `length ${length}`);
  }
});

test('HashJob: stepped with any budget, it gives hashRecords\' digest, though the store appends and compacts between steps', () => {
  for (const budget of [1, 600, 5_000, Number.POSITIVE_INFINITY]) {
    const harness = new Harness();
    for (let i = 0; i < 40; i++) harness.put(`k${i % 7}`, 'v'.repeat(i * 37));
    const whole = harness.machine.hash();
    const job = harness.machine.beginHash();
    let digest = job.step(budget);
    let steps = 1;
    while (digest === undefined) {
      // What a member does between steps: apply more writes, compact.
      harness.put(`later${steps}`, 'x');
      if (steps === 3) harness.ok({ type: 'compact', request: { revision: 20 } });
      digest = job.step(budget);
      steps++;
    }
    assert.deepEqual(digest, whole, `budget ${budget}`);
    if (budget === 1) assert.ok(steps > 40, 'a small budget takes a step per record');
  }
});
