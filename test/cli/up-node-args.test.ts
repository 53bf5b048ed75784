import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MEMBER_MALLOC_ENV, MEMBER_NODE_FLAGS, memberEnvironment, memberNodeArgs } from '../../src/cli/up.js';

test("members start with keel up's own Node flags after the member defaults", () => {
  assert.deepEqual(memberNodeArgs([]), [...MEMBER_NODE_FLAGS]);
  assert.deepEqual(memberNodeArgs(['--trace-gc']), [...MEMBER_NODE_FLAGS, '--trace-gc']);
  assert.ok(MEMBER_NODE_FLAGS.some((flag) => flag.startsWith('--max-semi-space-size=')), 'the young generation is bounded');
  assert.ok(MEMBER_NODE_FLAGS.some((flag) => flag.startsWith('--initial-old-space-size=')), 'a small heap is not fully collected for every few MiB of buffers');
});

test('a default keel up was given itself, in any spelling, is not given twice', () => {
  for (const own of [['--max-semi-space-size=32'], ['--max_semi_space_size=32'], ['--max-semi-space-size', '32']]) {
    const args = memberNodeArgs(['--trace-gc', ...own]);
    const others = MEMBER_NODE_FLAGS.filter((flag) => !flag.startsWith('--max-semi-space-size='));
    assert.deepEqual(args, [...others, '--trace-gc', ...own], `with ${own.join(' ')}`);
  }
});

test("members get the malloc settings under keel up's own environment, which wins", () => {
  const environment = memberEnvironment({ PATH: '/bin', MALLOC_TRIM_THRESHOLD_: '1' });
  assert.equal(environment.PATH, '/bin');
  assert.equal(environment.MALLOC_TRIM_THRESHOLD_, '1');
  assert.equal(environment.MALLOC_MMAP_THRESHOLD_, MEMBER_MALLOC_ENV.MALLOC_MMAP_THRESHOLD_);
  assert.ok(Number(MEMBER_MALLOC_ENV.MALLOC_MMAP_THRESHOLD_) >= 4 * 1024 * 1024, 'a MiB value and its copies come from the heap');
});
