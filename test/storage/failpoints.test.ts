import assert from 'node:assert/strict';
import { afterEach, it } from 'node:test';
import { configureFailpoints, failpoint, parseFailpoints, StorageError } from '../../src/storage/failpoints.js';

afterEach(() => configureFailpoints(''));

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return StorageError.is(error) ? error.code : 'not a storage error';
  }
  return undefined;
}

it('does nothing when no failpoint is configured', () => {
  failpoint('wal-before-write');
});

it('fires a throw action on the n-th hit only', () => {
  configureFailpoints('wal-after-write=throw@3');
  assert.equal(codeOf(() => failpoint('wal-after-write')), undefined);
  assert.equal(codeOf(() => failpoint('wal-before-write')), undefined);
  assert.equal(codeOf(() => failpoint('wal-after-write')), undefined);
  assert.equal(codeOf(() => failpoint('wal-after-write')), 'KEEL_STORAGE_FAILPOINT');
  assert.equal(codeOf(() => failpoint('wal-after-write')), undefined);
});

it('fires on every hit without a count, and sleep returns', () => {
  configureFailpoints('compaction-before=throw, apply-after=sleep(1)');
  assert.equal(codeOf(() => failpoint('compaction-before')), 'KEEL_STORAGE_FAILPOINT');
  assert.equal(codeOf(() => failpoint('compaction-before')), 'KEEL_STORAGE_FAILPOINT');
  failpoint('apply-after');
});

it('rejects unknown names, actions and counts with KEEL_STORAGE_FAILPOINT_SPEC_INVALID', () => {
  for (const spec of ['nope=crash', 'wal-before-write=explode', 'wal-before-write=crash@0', 'wal-before-write']) {
    assert.equal(codeOf(() => parseFailpoints(spec)), 'KEEL_STORAGE_FAILPOINT_SPEC_INVALID', spec);
  }
  assert.equal(parseFailpoints('wal-after-fsync=crash@3,snapshot-after-rename=pause').size, 2);
});
