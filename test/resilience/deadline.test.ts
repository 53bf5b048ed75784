import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  assertBeforeDeadline, deadline, deadlineFromHeaders, deadlineHeaders, deadlineHeadersAt, encodeGrpcTimeout, parseDeadlineHeader, parseGrpcTimeout, remainingMs,
} from '../../src/resilience/deadline.js';
import { capture, newClock, untilAborted } from './helpers.js';

test('grpc-timeout: the finest unit that fits in 8 digits, parsed back', () => {
  assert.equal(encodeGrpcTimeout(1.5), '1500000n');
  assert.equal(encodeGrpcTimeout(250), '250000u');
  assert.equal(encodeGrpcTimeout(120_000), '120000m');
  assert.equal(encodeGrpcTimeout(1e9), '1000000S');
  assert.equal(parseGrpcTimeout('250m'), 250);
  assert.equal(parseGrpcTimeout('2S'), 2000);
  assert.equal(parseGrpcTimeout('1H'), 3_600_000);
  assert.equal(parseGrpcTimeout('123456789m'), undefined);
  assert.equal(parseGrpcTimeout('5x'), undefined);
});

test('property: encoding never gives less time than meant, and adds at most 0.001% (one unit when 8 digits are in use)', () => {
  fc.assert(
    fc.property(fc.double({ min: 0, max: 1e12, noNaN: true }), (timeoutMs) => {
      const decoded = parseGrpcTimeout(encodeGrpcTimeout(timeoutMs));
      assert.ok(decoded !== undefined && decoded >= timeoutMs - 1e-9, `${timeoutMs} -> ${decoded}`);
      assert.ok(decoded <= timeoutMs * 1.00001 + 1e-6, `${timeoutMs} -> ${decoded}`);
    }),
  );
});

test('deadline headers carry the remaining budget and round-trip through a receiver clock', () => {
  const clock = newClock();
  const headers = deadlineHeaders({ deadlineMs: clock.now() + 1500 }, clock);
  assert.deepEqual(headers, { 'keel-deadline': '1500', 'grpc-timeout': '1500000u' });
  const receiver = newClock();
  receiver.set(receiver.now() + 777); // another host, another clock
  assert.equal(deadlineFromHeaders(headers, receiver), receiver.now() + 1500);
  assert.deepEqual(deadlineHeaders({ deadlineMs: undefined }, clock), {});
  assert.deepEqual(deadlineHeaders({ deadlineMs: clock.now() + 5 }, clock, 'keel'), { 'keel-deadline': '5' });
});

test('the sooner header wins; malformed headers are ignored', () => {
  const clock = newClock();
  assert.equal(deadlineFromHeaders({ 'keel-deadline': '900', 'grpc-timeout': '1S' }, clock), clock.now() + 900);
  assert.equal(deadlineFromHeaders({ 'keel-deadline': '-4' }, clock), undefined);
  assert.equal(parseDeadlineHeader('12abc'), undefined);
});

test('refuses to send or start work whose deadline has passed', () => {
  const clock = newClock();
  assert.throws(() => deadlineHeaders({ deadlineMs: clock.now() }, clock), { code: 'KEEL_RES_DEADLINE_EXCEEDED' });
  assert.throws(() => assertBeforeDeadline({ deadlineMs: clock.now() - 1 }, clock), { code: 'KEEL_RES_DEADLINE_EXCEEDED' });
  assertBeforeDeadline({ deadlineMs: undefined }, clock);
  assert.equal(remainingMs({ deadlineMs: clock.now() + 10 }, clock), 10);
});

test('the deadline policy gives a default budget only to calls without a deadline', async () => {
  const clock = newClock();
  const policy = deadline({ defaultTimeoutMs: 100, clock });
  const seen: Array<number | undefined> = [];
  await policy.execute((context) => { seen.push(context.deadlineMs); });
  await policy.execute((context) => { seen.push(context.deadlineMs); }, { deadlineMs: clock.now() + 5000 });
  assert.deepEqual(seen, [clock.now() + 100, clock.now() + 5000]);
  const call = capture(policy.execute((context) => untilAborted(context.signal)));
  await clock.advance(100);
  assert.equal((call.error() as { code: string }).code, 'KEEL_RES_TIMEOUT');
  const unbounded = deadline({ clock });
  assert.equal(await unbounded.execute(() => 'no deadline, no timer'), 'no deadline, no timer');
  assert.equal(clock.pendingTimers, 0);
});

test('deadlineHeadersAt with the clock already read answers as deadlineHeaders reading it', () => {
  const clock = newClock();
  fc.assert(fc.property(fc.integer({ min: -5_000, max: 10_000_000 }), fc.constantFrom('keel', 'grpc', 'both') as fc.Arbitrary<'keel' | 'grpc' | 'both'>, (leftMs, format) => {
    const deadlineMs = clock.now() + leftMs;
    const viaClock = (() => { try { return deadlineHeaders({ deadlineMs }, clock, format); } catch (error) { return (error as Error).name; } })();
    const viaNow = (() => { try { return deadlineHeadersAt(deadlineMs, clock.now(), format); } catch (error) { return (error as Error).name; } })();
    assert.deepEqual(viaNow, viaClock);
  }));
});
