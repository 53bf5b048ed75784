import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  headerValue, isDependencyFailure, isIdempotent, isNeverSentError, isOverloadRejection, isTransientError, parseRateLimitReset, parseRetryAfter,
  serverDelayMs, statusOf,
} from '../../src/resilience/classify.js';
import { BrokenCircuitError, TimeoutError } from '../../src/resilience/errors.js';
import { httpError, networkError } from './helpers.js';

const never = new AbortController().signal;

test('headerValue reads fetch Headers, plain objects (any case) and arrays', () => {
  assert.equal(headerValue(new Headers({ 'Retry-After': '3' }), 'retry-after'), '3');
  assert.equal(headerValue({ 'RETRY-AFTER': '4' }, 'Retry-After'), '4');
  assert.equal(headerValue({ 'x-list': ['a', 'b'] }, 'x-list'), 'a, b');
  assert.equal(headerValue({ 'content-length': 5 }, 'content-length'), '5');
  assert.equal(headerValue(undefined, 'x'), undefined);
});

test('statusOf finds status, statusCode and response.status', () => {
  assert.equal(statusOf({ status: 503 }), 503);
  assert.equal(statusOf({ statusCode: 429 }), 429);
  assert.equal(statusOf({ response: { status: 502 } }), 502);
  assert.equal(statusOf(new Error('x')), undefined);
  assert.equal(statusOf(null), undefined);
});

test('idempotent: GET HEAD PUT DELETE OPTIONS, any method with an Idempotency-Key, and plain functions', () => {
  for (const method of ['GET', 'head', 'PUT', 'DELETE', 'OPTIONS']) assert.ok(isIdempotent({ method }), method);
  assert.equal(isIdempotent({ method: 'POST' }), false);
  assert.equal(isIdempotent({ method: 'PATCH' }), false);
  assert.ok(isIdempotent({ method: 'POST', headers: { 'Idempotency-Key': 'abc' } }));
  assert.ok(isIdempotent(undefined));
});

test('transient and never-sent errors', () => {
  assert.ok(isTransientError(networkError('ECONNRESET')));
  assert.ok(isTransientError(new TimeoutError(5)));
  assert.ok(isTransientError(Object.assign(new TypeError('fetch failed'), { cause: networkError('UND_ERR_SOCKET') })));
  assert.equal(isTransientError(new Error('bug')), false);
  assert.ok(isNeverSentError(networkError('ECONNREFUSED')));
  assert.equal(isNeverSentError(networkError('ECONNRESET')), false);
});

test('Retry-After: delay-seconds, HTTP-date relative to the clock, malformed ignored', () => {
  const nowMs = Date.parse('Wed, 21 Oct 2015 07:28:00 GMT');
  assert.equal(parseRetryAfter('120', nowMs), 120_000);
  assert.equal(parseRetryAfter('Wed, 21 Oct 2015 07:28:30 GMT', nowMs), 30_000);
  assert.equal(parseRetryAfter('Wed, 21 Oct 2015 07:27:00 GMT', nowMs), 0);
  assert.equal(parseRetryAfter('-5', nowMs), undefined);
  assert.equal(parseRetryAfter('1.5', nowMs), undefined);
  assert.equal(parseRetryAfter('soon', nowMs), undefined);
  assert.equal(parseRetryAfter(undefined, nowMs), undefined);
});

test('RateLimit fields: structured (draft 07+), combined (03-06) and separate fields; only when nothing remains', () => {
  assert.equal(parseRateLimitReset({ ratelimit: '"default";r=0;t=7' }), 7_000);
  assert.equal(parseRateLimitReset({ ratelimit: '"default";r=5;t=7' }), undefined);
  assert.equal(parseRateLimitReset({ ratelimit: 'limit=10, remaining=0, reset=3' }), 3_000);
  assert.equal(parseRateLimitReset({ 'RateLimit-Remaining': '0', 'RateLimit-Reset': '2' }), 2_000);
  assert.equal(parseRateLimitReset({ 'RateLimit-Remaining': '1', 'RateLimit-Reset': '2' }), undefined);
  assert.equal(parseRateLimitReset({}), undefined);
});

test('serverDelayMs prefers Retry-After over RateLimit and reads values and errors alike', () => {
  assert.equal(serverDelayMs({ ok: false, error: httpError(429, { 'retry-after': '4', ratelimit: '"d";r=0;t=9' }) }, 0), 4_000);
  assert.equal(serverDelayMs({ ok: true, value: { status: 429, headers: { ratelimit: '"d";r=0;t=9' } } }, 0), 9_000);
  assert.equal(serverDelayMs({ ok: false, error: new Error('x') }, 0), undefined);
});

test('dependency failure: errors and 5xx count; 4xx, local refusals and the caller abort do not', () => {
  assert.ok(isDependencyFailure({ ok: false, error: new Error('x') }, never));
  assert.ok(isDependencyFailure({ ok: true, value: { status: 500 } }, never));
  assert.ok(isDependencyFailure({ ok: false, error: httpError(503) }, never));
  assert.equal(isDependencyFailure({ ok: false, error: httpError(404) }, never), false);
  assert.equal(isDependencyFailure({ ok: true, value: { status: 200 } }, never), false);
  assert.equal(isDependencyFailure({ ok: false, error: new BrokenCircuitError(1) }, never), false);
  const aborted = new AbortController();
  aborted.abort();
  assert.equal(isDependencyFailure({ ok: false, error: new Error('x') }, aborted.signal), false);
});

test('overload rejection: 429, 503, connection refused and local refusals', () => {
  assert.ok(isOverloadRejection({ ok: true, value: { status: 503 } }));
  assert.ok(isOverloadRejection({ ok: false, error: httpError(429) }));
  assert.ok(isOverloadRejection({ ok: false, error: networkError('ECONNREFUSED') }));
  assert.ok(isOverloadRejection({ ok: false, error: new BrokenCircuitError(1) }));
  assert.equal(isOverloadRejection({ ok: false, error: httpError(500) }), false);
  assert.equal(isOverloadRejection({ ok: true, value: 'fine' }), false);
});
