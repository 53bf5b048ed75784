import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { compareBytes, covers, intervalOf, mergedIntervals } from '../../src/store/auth-permissions.js';
import type { Access, Permission } from '../../src/store/auth-permissions.js';

/**
 * The permission checker's range math against a brute-force model: keys
 * over the bytes {0, 1, 2} up to 3 long, checked against every key up to 4
 * long. That universe is exact for such endpoints: a gap in the union
 * starts at an interval end (a key of the universe), and a single-key
 * permission's end is its key plus "\0" (4 long at most).
 */
const ALPHABET = [0, 1, 2];
const keyArbitrary = fc.array(fc.constantFrom(...ALPHABET), { maxLength: 3 }).map((values) => new Uint8Array(values));
/** Empty (one key), "\0" (from key), or an arbitrary end. */
const rangeEndArbitrary = fc.oneof(fc.constant(new Uint8Array(0)), fc.constant(new Uint8Array([0])), keyArbitrary);
const permissionArbitrary = fc.record({ permType: fc.constantFrom('READ' as const, 'WRITE' as const, 'READWRITE' as const), key: keyArbitrary, rangeEnd: rangeEndArbitrary });

const UNIVERSE: Uint8Array[] = [];
function fill(prefix: number[]): void {
  UNIVERSE.push(new Uint8Array(prefix));
  if (prefix.length < 4) for (const byte of ALPHABET) fill([...prefix, byte]);
}
fill([]);

function inInterval(key: Uint8Array, start: Uint8Array, end: Uint8Array | undefined): boolean {
  return compareBytes(key, start) >= 0 && (end === undefined || compareBytes(key, end) < 0);
}

function modelCovers(permissions: readonly Permission[], access: Access, key: Uint8Array, rangeEnd: Uint8Array): boolean {
  let wanted = intervalOf(key, rangeEnd);
  if (wanted.end !== undefined && compareBytes(wanted.end, wanted.start) <= 0) wanted = intervalOf(key, new Uint8Array(0));
  const granting = permissions.filter((permission) => permission.permType === 'READWRITE' || permission.permType === access).map((permission) => intervalOf(permission.key, permission.rangeEnd));
  return UNIVERSE.filter((candidate) => inInterval(candidate, wanted.start, wanted.end)).every((candidate) => granting.some((interval) => inInterval(candidate, interval.start, interval.end)));
}

test('covers agrees with the brute-force model on every range, access and permission set', () => {
  fc.assert(
    fc.property(fc.array(permissionArbitrary, { maxLength: 6 }), fc.constantFrom('READ' as const, 'WRITE' as const), keyArbitrary, rangeEndArbitrary, (permissions, access, key, rangeEnd) => {
      assert.equal(covers(mergedIntervals(permissions, access), key, rangeEnd), modelCovers(permissions, access, key, rangeEnd));
    }),
    { numRuns: 3_000 },
  );
});

test('merged intervals are sorted, disjoint and not touching', () => {
  fc.assert(
    fc.property(fc.array(permissionArbitrary, { maxLength: 8 }), (permissions) => {
      const merged = mergedIntervals(permissions, 'READ');
      for (let index = 1; index < merged.length; index++) {
        const previous = merged[index - 1]!;
        assert.ok(previous.end !== undefined && compareBytes(previous.end, merged[index]!.start) < 0);
      }
    }),
  );
});

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);

test("etcd's conventions: one key, prefixes, from-key, and a range crossing a forbidden key", () => {
  const prefix: Permission = { permType: 'READWRITE', key: bytes('/app/'), rangeEnd: bytes('/app0') };
  const single: Permission = { permType: 'READ', key: bytes('/cfg'), rangeEnd: new Uint8Array(0) };
  const fromKey: Permission = { permType: 'WRITE', key: bytes('/zz/'), rangeEnd: new Uint8Array([0]) };
  const read = mergedIntervals([prefix, single, fromKey], 'READ');
  const write = mergedIntervals([prefix, single, fromKey], 'WRITE');
  assert.ok(covers(read, bytes('/app/x'), new Uint8Array(0)));
  assert.ok(covers(read, bytes('/app/'), bytes('/app0')));
  assert.ok(covers(read, bytes('/cfg'), new Uint8Array(0)));
  assert.ok(!covers(read, bytes('/cfg'), bytes('/cfh')), 'a range over /cfg holds more keys than /cfg');
  assert.ok(!covers(read, bytes('/'), bytes('0')), 'a prefix range crossing forbidden keys is refused, not filtered');
  assert.ok(!covers(read, bytes('\0'), new Uint8Array([0])), 'from-key over everything');
  assert.ok(covers(write, bytes('/zz/a'), new Uint8Array([0])));
  assert.ok(covers(write, bytes('/zzz'), new Uint8Array(0)));
  assert.ok(!covers(write, bytes('/cfg'), new Uint8Array(0)));
  assert.ok(!covers(read, bytes('/zz/a'), new Uint8Array(0)));
  const everything = mergedIntervals([{ permType: 'READ', key: new Uint8Array([0]), rangeEnd: new Uint8Array([0]) }], 'READ');
  assert.ok(covers(everything, new Uint8Array([0]), new Uint8Array([0])));
});
