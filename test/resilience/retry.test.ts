import { test } from 'node:test';
import assert from 'node:assert/strict';
import { constantBackoff } from '../../src/resilience/backoff.js';
import { RatioRetryBudget, TokenRetryBudget } from '../../src/resilience/budget.js';
import { BrokenCircuitError } from '../../src/resilience/errors.js';
import { RETRY_DEFAULTS, RetryPolicy } from '../../src/resilience/retry.js';
import { seededRandom } from '../../src/resilience/random.js';
import { capture, failing, httpError, networkError, newClock } from './helpers.js';

function policy(options: ConstructorParameters<typeof RetryPolicy>[0] = {}) {
  const clock = newClock();
  return { clock, retry: new RetryPolicy({ clock, random: seededRandom(1), backoff: constantBackoff(100), ...options }) };
}

test('retries a transient error after the backoff and returns the result', async () => {
  const { clock, retry } = policy();
  const target = failing([networkError('ECONNRESET')]);
  const result = capture(retry.execute(target.fn));
  await clock.advance(99);
  assert.equal(target.calls(), 1);
  await clock.advance(1);
  assert.equal(result.value(), 'ok');
  assert.equal(target.calls(), 2);
  assert.deepEqual(retry.stats(), { calls: 1, attempts: 2, retries: 1, successes: 1, failures: 0, stops: { ...retry.stats().stops } });
});

test('gives up after maxAttempts with the last error', async () => {
  const { clock, retry } = policy({ maxAttempts: 3 });
  const target = failing([networkError('ETIMEDOUT'), networkError('ETIMEDOUT'), networkError('ECONNRESET'), undefined]);
  const result = capture(retry.execute(target.fn));
  await clock.advance(1000);
  assert.equal((result.error() as { code: string }).code, 'ECONNRESET');
  assert.equal(target.calls(), 3);
  assert.equal(retry.stats().stops['attempts-exhausted'], 1);
});

test('never retries 400, 401, 403, 404, nor an unknown error', async () => {
  for (const status of [400, 401, 403, 404]) {
    const { retry } = policy();
    const target = failing([httpError(status)]);
    await assert.rejects(retry.execute(target.fn, { request: { method: 'GET' } }), { status });
    assert.equal(target.calls(), 1, `status ${status}`);
  }
  const { retry } = policy();
  const target = failing([new Error('bug')]);
  await assert.rejects(retry.execute(target.fn), /bug/);
  assert.equal(target.calls(), 1);
});

test('retries 429 and 503 on idempotent requests; 502 and 504 only when configured', async () => {
  for (const status of [429, 503]) {
    const { clock, retry } = policy();
    const target = failing([httpError(status)]);
    const result = capture(retry.execute(target.fn, { request: { method: 'PUT' } }));
    await clock.advance(100);
    assert.equal(result.value(), 'ok', `status ${status}`);
  }
  const plain = policy();
  await assert.rejects(plain.retry.execute(failing([httpError(502)]).fn), { status: 502 });
  const configured = policy({ retryOnStatuses: [429, 502, 503, 504] });
  const result = capture(configured.retry.execute(failing([httpError(502), httpError(504)]).fn));
  await configured.clock.advance(200);
  assert.equal(result.value(), 'ok');
});

test('a non-idempotent POST is not retried, unless it carries an Idempotency-Key or was never sent', async () => {
  const post = policy();
  const target = failing([httpError(503)]);
  await assert.rejects(post.retry.execute(target.fn, { request: { method: 'POST' } }), { status: 503 });
  assert.equal(target.calls(), 1);
  const reset = failing([networkError('ECONNRESET')]);
  await assert.rejects(post.retry.execute(reset.fn, { request: { method: 'POST' } }), { code: 'ECONNRESET' });

  const keyed = policy();
  const result = capture(keyed.retry.execute(failing([httpError(503)]).fn, { request: { method: 'POST', headers: { 'Idempotency-Key': 'k1' } } }));
  await keyed.clock.advance(100);
  assert.equal(result.value(), 'ok');

  const refused = policy();
  const again = capture(refused.retry.execute(failing([networkError('ECONNREFUSED')]).fn, { request: { method: 'POST' } }));
  await refused.clock.advance(100);
  assert.equal(again.value(), 'ok');
});

test('retries a returned 503 response and, when attempts run out, returns the last response', async () => {
  const { clock, retry } = policy({ maxAttempts: 2 });
  let calls = 0;
  const result = capture(retry.execute(async () => ({ status: 503, call: ++calls })));
  await clock.advance(1000);
  assert.deepEqual(result.value(), { status: 503, call: 2 });
});

test('honours Retry-After in seconds and as a date, waiting at least that long', async () => {
  const { clock, retry } = policy();
  const target = failing([httpError(429, { 'Retry-After': '3' })]);
  const result = capture(retry.execute(target.fn));
  await clock.advance(2999);
  assert.equal(result.done(), false);
  await clock.advance(1);
  assert.equal(result.value(), 'ok');

  const dated = policy();
  const date = new Date(dated.clock.now() + 5000).toUTCString();
  const second = capture(dated.retry.execute(failing([httpError(503, { 'retry-after': date })]).fn));
  await dated.clock.advance(4000);
  assert.equal(second.done(), false);
  await dated.clock.advance(1000);
  assert.equal(second.value(), 'ok');
});

test('honours the RateLimit reset when nothing remains', async () => {
  const { clock, retry } = policy();
  const result = capture(retry.execute(failing([httpError(429, { RateLimit: '"default";r=0;t=2' })]).fn));
  await clock.advance(1999);
  assert.equal(result.done(), false);
  await clock.advance(1);
  assert.equal(result.value(), 'ok');
});

test('gives up when the server asks for longer than maxServerDelayMs', async () => {
  const { retry } = policy({ maxServerDelayMs: 10_000 });
  const target = failing([httpError(503, { 'retry-after': '30' })]);
  await assert.rejects(retry.execute(target.fn), { status: 503 });
  assert.equal(target.calls(), 1);
  assert.equal(retry.stats().stops['server-delay-too-long'], 1);
});

test('no retry that cannot finish before the deadline: the delay plus the last attempt must fit', async () => {
  const { clock, retry } = policy();
  let calls = 0;
  const slowFailure = async () => {
    calls++;
    await new Promise<void>((resolve) => clock.setTimeout(resolve, 500));
    throw networkError('ECONNRESET');
  };
  const deadlineMs = clock.now() + 1000;
  const result = capture(retry.execute(slowFailure, { deadlineMs }));
  await clock.advance(2000);
  // attempt 1 ends at 500; 500 + 100 delay + 500 estimate > 1000: stop.
  assert.equal(calls, 1);
  assert.equal((result.error() as { code: string }).code, 'ECONNRESET');
  assert.equal(retry.stats().stops.deadline, 1);

  const lenient = policy({ deadlineEstimate: 'delay-only' });
  let more = 0;
  const quick = capture(lenient.retry.execute(async () => {
    more++;
    throw networkError('ECONNRESET');
  }, { deadlineMs: lenient.clock.now() + 250 }));
  await lenient.clock.advance(1000);
  assert.equal(more, 3);
  assert.ok(quick.done());
});

test('when the budget is spent the original error surfaces; budgets are shared between policies', async () => {
  const clock = newClock();
  const budget = new RatioRetryBudget({ clock, ratio: 0, minRetriesPerSecond: 0.1 }); // one retry per 10 s window
  const first = new RetryPolicy({ clock, budget, backoff: constantBackoff(10) });
  const second = new RetryPolicy({ clock, budget, backoff: constantBackoff(10) });
  const a = capture(first.execute(failing([httpError(503)]).fn));
  await clock.advance(10);
  assert.equal(a.value(), 'ok');
  const target = failing([httpError(503, { 'x-original': 'yes' })]);
  await assert.rejects(second.execute(target.fn), (error: { status: number; headers: Record<string, string> }) => error.status === 503 && error.headers['x-original'] === 'yes');
  assert.equal(target.calls(), 1);
  assert.equal(second.stats().stops['budget-exhausted'], 1);
});

test('token budget counts failures and successes of attempts', async () => {
  const clock = newClock();
  const budget = new TokenRetryBudget({ maxTokens: 2, tokenRatio: 1 });
  const retry = new RetryPolicy({ clock, budget, backoff: constantBackoff(1) });
  await assert.rejects(retry.execute(failing([httpError(503), httpError(503)]).fn), { status: 503 }); // 2 -> 1 token: no retry
  assert.equal(budget.tokens, 1);
});

test('does not retry local refusals such as an open breaker', async () => {
  const { retry } = policy();
  const target = failing([new BrokenCircuitError(1000)]);
  await assert.rejects(retry.execute(target.fn), { code: 'KEEL_RES_CIRCUIT_OPEN' });
  assert.equal(target.calls(), 1);
});

test('an abort during the backoff rejects with KEEL_RES_ABORTED and sends no more attempts', async () => {
  const { clock, retry } = policy();
  const controller = new AbortController();
  const target = failing([networkError('ECONNRESET')]);
  const result = capture(retry.execute(target.fn, { signal: controller.signal }));
  await clock.advance(50);
  controller.abort();
  await clock.advance(100);
  assert.equal((result.error() as { code: string }).code, 'KEEL_RES_ABORTED');
  assert.equal(target.calls(), 1);
});

test('shouldRetry overrides the classification; each attempt sees its number', async () => {
  const { clock, retry } = policy({ shouldRetry: () => true });
  const attempts: number[] = [];
  const result = capture(retry.execute(async (context) => {
    attempts.push(context.attempt);
    if (context.attempt < 3) throw new Error('custom');
    return 'done';
  }));
  await clock.advance(1000);
  assert.equal(result.value(), 'done');
  assert.deepEqual(attempts, [1, 2, 3]);
});

test('emits retry, give-up and success events', async () => {
  const { clock, retry } = policy({ maxAttempts: 2 });
  const events: string[] = [];
  retry.events.onAny((event) => events.push(event.type === 'give-up' ? `give-up:${event.reason}` : event.type));
  const ok = capture(retry.execute(failing([networkError('ECONNRESET')]).fn));
  await clock.advance(100);
  assert.equal(ok.value(), 'ok');
  await assert.rejects(retry.execute(failing([httpError(404)]).fn));
  assert.deepEqual(events, ['retry', 'success', 'give-up:not-retryable']);
});

test('defaults: 3 attempts, 429/503, honour the server up to 60 s, estimate from the previous attempt', () => {
  assert.deepEqual({ ...RETRY_DEFAULTS, retryOnStatuses: [...RETRY_DEFAULTS.retryOnStatuses] }, {
    maxAttempts: 3, retryOnStatuses: [429, 503], honorServerDelay: true, maxServerDelayMs: 60_000, deadlineEstimate: 'previous-attempt',
  });
  assert.equal(new RetryPolicy().maxAttempts, 3);
  assert.throws(() => new RetryPolicy({ maxAttempts: 0 }), { code: 'KEEL_RES_CONFIG_INVALID' });
  assert.throws(() => new RetryPolicy({ maxAttempts: 101 }), { code: 'KEEL_RES_CONFIG_INVALID' });
});

test('default backoff is exponential with full jitter: the first delay is below 100 ms', async () => {
  const clock = newClock();
  const retry = new RetryPolicy({ clock, random: seededRandom(9) });
  const result = capture(retry.execute(failing([networkError('ECONNRESET')]).fn));
  await clock.advance(100);
  assert.equal(result.value(), 'ok');
});
