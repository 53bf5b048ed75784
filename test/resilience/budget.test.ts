import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { RATIO_BUDGET_DEFAULTS, RatioRetryBudget, TOKEN_BUDGET_DEFAULTS, TokenRetryBudget } from '../../src/resilience/budget.js';
import { FakeClock } from '../../src/resilience/clock.js';

test('ratio budget: retries up to 10% of requests once traffic exceeds the minimum', () => {
  const clock = new FakeClock(0);
  const budget = new RatioRetryBudget({ clock, minRetriesPerSecond: 0 });
  for (let i = 0; i < 100; i++) budget.onRequest();
  let granted = 0;
  while (budget.tryRetry()) granted++;
  assert.equal(granted, 10);
  assert.equal(budget.stats().refused, 1);
});

test('ratio budget: the minimum lets a quiet client retry; the window forgets old traffic', async () => {
  const clock = new FakeClock(0);
  const budget = new RatioRetryBudget({ clock, minRetriesPerSecond: 0.2 }); // 2 per 10 s window
  assert.ok(budget.tryRetry());
  assert.ok(budget.tryRetry());
  assert.equal(budget.tryRetry(), false);
  await clock.advance(10_000);
  assert.ok(budget.tryRetry());
});

test('ratio budget defaults: 10% (SRE book), one retry per 10 s window minimum, 10 s window in 10 buckets (Finagle/Linkerd window)', () => {
  assert.deepEqual(RATIO_BUDGET_DEFAULTS, { ratio: 0.1, minRetriesPerSecond: 0.1, windowMs: 10_000, bucketCount: 10 });
  const budget = new RatioRetryBudget({ clock: new FakeClock(0) });
  assert.equal(budget.minimumRetries, 1);
  assert.equal(budget.stats().available, 1);
});

/** The exact reference: keep every event, count those whose bucket is inside the window. */
function referenceRatio(ops: Array<{ dt: number; retry: boolean }>, ratio: number, minimum: number, windowMs: number, buckets: number): boolean[] {
  const bucketMs = windowMs / buckets;
  const events: Array<{ bucket: number; retry: boolean }> = [];
  const answers: boolean[] = [];
  let now = 0;
  for (const op of ops) {
    now += op.dt;
    const current = Math.floor(now / bucketMs);
    const live = events.filter((event) => event.bucket > current - buckets);
    if (!op.retry) {
      events.push({ bucket: current, retry: false });
      continue;
    }
    const requests = live.filter((event) => !event.retry).length;
    const retries = live.filter((event) => event.retry).length;
    const ok = retries + 1 <= Math.max(ratio * requests, minimum);
    answers.push(ok);
    if (ok) events.push({ bucket: current, retry: true });
  }
  return answers;
}

test('property: the ratio budget matches an exact reference simulation', () => {
  fc.assert(
    fc.property(
      fc.array(fc.record({ dt: fc.integer({ min: 0, max: 1500 }), retry: fc.boolean() }), { maxLength: 300 }),
      fc.constantFrom(0.1, 0.2, 0.5),
      fc.constantFrom(0, 0.1, 1),
      fc.constantFrom(1, 5, 10),
      (ops, ratio, minPerSecond, buckets) => {
        const clock = new FakeClock(0);
        const budget = new RatioRetryBudget({ clock, ratio, minRetriesPerSecond: minPerSecond, windowMs: 10_000, bucketCount: buckets });
        const actual: boolean[] = [];
        for (const op of ops) {
          clock.set(clock.now() + op.dt);
          if (op.retry) actual.push(budget.tryRetry());
          else budget.onRequest();
        }
        assert.deepEqual(actual, referenceRatio(ops, ratio, minPerSecond * 10, 10_000, buckets));
      },
    ),
    { numRuns: 300 },
  );
});

test('token budget: starts full, failures drain it, retries stop at half, successes refill by the ratio (gRFC A6)', () => {
  const budget = new TokenRetryBudget({ maxTokens: 4, tokenRatio: 0.5 });
  assert.ok(budget.tryRetry());
  budget.onFailure();
  budget.onFailure();
  assert.equal(budget.tokens, 2);
  assert.equal(budget.tryRetry(), false); // 2 <= 4/2
  budget.onSuccess();
  assert.equal(budget.tokens, 2.5);
  assert.ok(budget.tryRetry());
  for (let i = 0; i < 10; i++) budget.onSuccess();
  assert.equal(budget.tokens, 4);
});

test('token budget defaults: 10 tokens, ratio 0.1 (the gRPC retry design example)', () => {
  assert.deepEqual(TOKEN_BUDGET_DEFAULTS, { maxTokens: 10, tokenRatio: 0.1 });
  assert.throws(() => new TokenRetryBudget({ maxTokens: 1001 }), { code: 'KEEL_RES_CONFIG_INVALID' });
});

test('property: the token budget matches a reference in integer thousandths', () => {
  fc.assert(
    fc.property(
      fc.array(fc.constantFrom('success', 'failure', 'retry'), { maxLength: 400 }),
      fc.integer({ min: 1, max: 100 }),
      fc.integer({ min: 1, max: 2000 }),
      (ops, maxTokens, ratioThousandths) => {
        const budget = new TokenRetryBudget({ maxTokens, tokenRatio: ratioThousandths / 1000 });
        let milli = maxTokens * 1000;
        for (const op of ops) {
          if (op === 'success') {
            budget.onSuccess();
            milli = Math.min(maxTokens * 1000, milli + ratioThousandths);
          } else if (op === 'failure') {
            budget.onFailure();
            milli = Math.max(0, milli - 1000);
          } else {
            assert.equal(budget.tryRetry(), milli * 2 > maxTokens * 1000);
          }
          assert.equal(Math.round(budget.tokens * 1000), milli);
        }
      },
    ),
    { numRuns: 300 },
  );
});
