import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import * as keel from '../../src/resilience/index.js';
import { capture, httpError, newClock } from './helpers.js';

test('the package entry exports every policy factory and the composition helpers', () => {
  for (const name of [
    'retry', 'circuitBreaker', 'bulkhead', 'keyedBulkhead', 'timeout', 'deadline', 'wrap', 'fallback', 'hedge', 'adaptiveThrottle',
    'adaptiveConcurrency', 'rateLimit', 'tokenBucket', 'gcra', 'slidingWindow', 'keyedLimiter', 'ratioBudget', 'tokenBudget', 'exponentialBackoff',
    'gradientLimit', 'vegasLimit', 'aimdLimit', 'criticalityPartitions', 'deadlineHeaders', 'deadlineFromHeaders', 'FakeClock', 'seededRandom',
  ]) {
    assert.equal(typeof (keel as Record<string, unknown>)[name], 'function', name);
  }
  assert.equal(typeof keel.noop.execute, 'function');
  assert.equal(keel.Criticality.SHEDDABLE, 'SHEDDABLE');
  assert.equal(keel.limits.RETRY_ATTEMPTS_MAX, 100);
});

test('a full client stack composes: fallback(retry(breaker(bulkhead(timeout))))', async () => {
  const clock = newClock();
  const breaker = keel.circuitBreaker({ clock, strategy: keel.consecutiveFailures(3) });
  const stack = keel.wrap(
    keel.fallback({ value: 'cached' }, { clock }),
    keel.retry({ clock, random: keel.seededRandom(1), budget: keel.ratioBudget({ clock, minRetriesPerSecond: 1 }) }),
    breaker,
    keel.bulkhead({ clock, maxConcurrent: 2 }),
    keel.timeout(1000, { clock }),
  );
  let calls = 0;
  const flaky = capture(stack.execute(async (context) => {
    calls++;
    assert.equal(context.deadlineMs, clock.now() + 1000);
    if (calls < 2) throw httpError(503);
    return 'fresh';
  }, { request: { method: 'GET' } }));
  await clock.advance(1000);
  assert.equal(flaky.value(), 'fresh');
  const down = capture(stack.execute(async () => { throw httpError(503); }));
  await clock.advance(10_000);
  assert.equal(down.value(), 'cached');
  assert.equal(breaker.stats().opens, 1);
});

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = join(dir, name);
    return statSync(full).isDirectory() ? sources(full) : full.endsWith('.ts') ? [full] : [];
  });
}

test('only clock.ts reads time or sets timers, and only random.ts draws randomness', () => {
  const root = new URL('../../src/resilience/', import.meta.url).pathname;
  for (const file of sources(root)) {
    const text = readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '');
    if (!file.endsWith('/clock.ts')) assert.doesNotMatch(text, /Date\.now\(|performance\.now\(|(?<![.\w])setTimeout\(|(?<![.\w])setInterval\(/, file);
    if (!file.endsWith('/random.ts')) assert.doesNotMatch(text, /Math\.random\(/, file);
  }
});
