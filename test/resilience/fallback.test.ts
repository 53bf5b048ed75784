import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FallbackPolicy, fallback } from '../../src/resilience/fallback.js';
import { newClock } from './helpers.js';

const fail = async (): Promise<string> => {
  throw new Error('down');
};

test('a value, or a function of the error', async () => {
  assert.equal(await fallback({ value: 'default' }).execute(fail), 'default');
  assert.equal(await fallback<string>({ fn: (error) => `from ${(error as Error).message}` }).execute(fail), 'from down');
  assert.equal(await fallback({ value: 'unused' }).execute(async () => 'fresh'), 'fresh');
});

test('the last good result, with its age; too old falls through to orElse or the error', async () => {
  const clock = newClock();
  const policy = new FallbackPolicy<string>({ stale: { maxAgeMs: 1000 }, orElse: { value: 'empty' } }, { clock });
  assert.deepEqual(await policy.executeWithInfo(fail), { value: 'empty', source: 'fallback', error: new Error('down') });
  await policy.execute(async () => 'v1');
  await clock.advance(400);
  const info = await policy.executeWithInfo(fail);
  assert.equal(info.value, 'v1');
  assert.equal(info.source, 'stale');
  assert.equal(info.ageMs, 400);
  assert.equal(policy.lastGoodAgeMs(), 400);
  await clock.advance(700);
  assert.equal((await policy.executeWithInfo(fail)).source, 'fallback');
  const strict = fallback({ stale: {} }, { clock });
  await assert.rejects(strict.execute(fail), /down/);
});

test('handle filters which errors fall back; the caller abort never does by default', async () => {
  const policy = fallback({ value: 'x' }, { handle: (error) => (error as Error).message !== 'fatal' });
  await assert.rejects(policy.execute(async () => { throw new Error('fatal'); }), /fatal/);
  const controller = new AbortController();
  controller.abort();
  await assert.rejects(fallback({ value: 'x' }).execute(fail, { signal: controller.signal }), /down/);
});

test('emits fallback events and counts stats', async () => {
  const policy = fallback({ value: 0 });
  const sources: string[] = [];
  policy.events.on('fallback', (event) => sources.push(event.source));
  await policy.execute(fail);
  assert.deepEqual(sources, ['fallback']);
  assert.deepEqual(policy.stats(), { calls: 1, fallbacks: 1, stale: 0 });
});
