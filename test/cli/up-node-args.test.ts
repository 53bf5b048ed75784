import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MEMBER_NODE_FLAGS, memberNodeArgs } from '../../src/cli/up.js';

test("members start with keel up's own Node flags after the member defaults", () => {
  assert.deepEqual(memberNodeArgs([]), [...MEMBER_NODE_FLAGS]);
  assert.deepEqual(memberNodeArgs(['--trace-gc']), [...MEMBER_NODE_FLAGS, '--trace-gc']);
  assert.ok(MEMBER_NODE_FLAGS.some((flag) => flag.startsWith('--max-semi-space-size=')), 'the young generation is bounded');
});

test('a default keel up was given itself, in any spelling, is not given twice', () => {
  for (const own of [['--max-semi-space-size=32'], ['--max_semi_space_size=32'], ['--max-semi-space-size', '32']]) {
    const args = memberNodeArgs(['--trace-gc', ...own]);
    assert.deepEqual(args, ['--trace-gc', ...own], `with ${own.join(' ')}`);
  }
});
