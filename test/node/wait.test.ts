import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Wait } from '../../src/node/wait.js';

test('a waiter is answered, failed, timed out or cancelled exactly once, and onRemove sees each leave', async () => {
  const left: string[] = [];
  const wait = new Wait<number, { tag: string }>((note) => left.push(note.tag));
  const answered = wait.register('a', 60_000, () => new Error('timeout a'), { tag: 'a' });
  const failed = wait.register('b', 60_000, () => new Error('timeout b'), { tag: 'b' });
  const timedOut = wait.register('c', 5, () => new Error('timeout c'), { tag: 'c' });
  const cancelled = wait.register('d', 60_000, () => new Error('timeout d'), { tag: 'd' });
  assert.equal(wait.size, 4);
  assert.throws(() => wait.register('a', 1, () => new Error('x'), { tag: 'a2' }), /already registered/);

  assert.equal(wait.trigger('a', 7), true);
  assert.equal(wait.trigger('a', 8), false, 'answered once');
  assert.equal(await answered, 7);
  assert.equal(wait.fail('b', new Error('boom')), true);
  await assert.rejects(failed, /boom/);
  await assert.rejects(timedOut, /timeout c/);
  assert.equal(wait.fail('c', new Error('late')), false, 'a timed-out waiter is gone');
  assert.equal(wait.cancel('d'), true);
  assert.equal(wait.size, 0);
  assert.deepEqual(left, ['a', 'b', 'c', 'd']);
  const settled = await Promise.race([cancelled.then(() => 'settled', () => 'settled'), new Promise((resolve) => setImmediate(() => resolve('pending')))]);
  assert.equal(settled, 'pending', 'a cancelled waiter is left to its caller');
});

test('notes can be changed in place and waiters settled while iterating; failAll gives each waiter its own error', async () => {
  const wait = new Wait<void, { index?: number }>();
  const promises = ['r1', 'r2', 'r3'].map((id) => wait.register(id, 60_000, () => new Error('timeout'), {}));
  wait.note('r1')!.index = 5;
  wait.note('r3')!.index = 9;
  for (const [id, note] of wait.notes()) if (note.index !== undefined && note.index <= 6) wait.trigger(id, undefined);
  await promises[0];
  assert.deepEqual([...wait.notes()].map(([id]) => id), ['r2', 'r3']);
  const errors: Error[] = [];
  wait.failAll(() => new Error('leader changed'));
  for (const promise of promises.slice(1)) await promise.catch((error: Error) => errors.push(error));
  assert.equal(errors.length, 2);
  assert.notEqual(errors[0], errors[1]);
  assert.equal(wait.size, 0);
});
