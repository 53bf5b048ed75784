import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as errors from '../../src/resilience/errors.js';

test('every error has a unique KEEL_RES_ code, a status, and the cross-install brand', () => {
  const samples: errors.ResilienceError[] = [
    new errors.ConfigError('x'), new errors.AssertionError('x'), new errors.AbortedError(), new errors.TimeoutError(5),
    new errors.DeadlineExceededError(1, 2), new errors.BrokenCircuitError(10), new errors.IsolatedCircuitError(),
    new errors.BulkheadRejectedError(1, 0, 'full'), new errors.BulkheadQueueTimeoutError(5), new errors.RateLimitedError(10, 'k'),
    new errors.ThrottledError(0.5), new errors.ConcurrencyLimitedError(1, 1, 'all'),
  ];
  const codes = samples.map((error) => error.code);
  assert.equal(new Set(codes).size, codes.length);
  for (const error of samples) {
    assert.match(error.code, /^KEEL_RES_[A-Z_]+$/);
    assert.ok(errors.ResilienceError.is(error));
    assert.ok(errors.HTTP_STATUS_BY_CODE[error.code] !== undefined, `${error.code} has a status`);
  }
  assert.equal(Object.keys(errors.HTTP_STATUS_BY_CODE).length, codes.length);
  assert.equal(errors.ResilienceError.is(new Error('plain')), false);
  assert.equal(errors.ResilienceError.is({ [Symbol.for('keel.resilience.error')]: true }), true);
});

test('statuses: 429 for rate limits, 503 for overload, 504 for time, 500 for foreign errors', () => {
  assert.equal(errors.httpStatusFor(new errors.RateLimitedError(1, undefined)), 429);
  assert.equal(errors.httpStatusFor(new errors.BrokenCircuitError(undefined)), 503);
  assert.equal(errors.httpStatusFor(new errors.TimeoutError(1)), 504);
  assert.equal(errors.httpStatusFor(new Error('x')), 500);
});

test('local marks refusals that never reached the dependency; a timeout is not local', () => {
  assert.equal(new errors.BrokenCircuitError(1).local, true);
  assert.equal(new errors.TimeoutError(1).local, false);
  assert.equal(new errors.BrokenCircuitError(7).retryAfterMs, 7);
  assert.equal(new errors.RateLimitedError(9, undefined).retryAfterMs, 9);
});
