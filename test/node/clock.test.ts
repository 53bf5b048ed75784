import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SkewableClock } from '../../src/node/clock.js';

/** A hand-driven host clock, so every reading is exact. */
function hostClock(): { now: () => number; advance: (ms: number) => void } {
  let time = 1_000;
  return { now: () => time, advance: (ms) => (time += ms) };
}

test('a skewable clock runs at the host rate until skewed, drifts from the moment of a new rate, and only jumps forward', () => {
  const host = hostClock();
  const clock = new SkewableClock(host.now);
  host.advance(100);
  assert.equal(clock.now(), 1_100);
  assert.deepEqual(clock.skew({ rate: 3 }), { rate: 3, aheadMs: 0 }, 'a new rate applies from now on, without a jump');
  host.advance(100);
  assert.equal(clock.now(), 1_400);
  clock.skew({ bumpMs: 500 });
  assert.equal(clock.now(), 1_900);
  assert.deepEqual(clock.skew({ rate: 1 }), { rate: 1, aheadMs: 700 }, 'stopping the drift keeps the skew built up');
  host.advance(50);
  assert.equal(clock.now(), 1_950);
  clock.skew({ rate: 0.5 });
  host.advance(100);
  assert.equal(clock.now(), 2_000, 'a slow clock still moves forward');
});

test('a skewable clock refuses rates and jumps out of bounds with a stable code, and changes nothing then', () => {
  const host = hostClock();
  const clock = new SkewableClock(host.now);
  for (const bad of [{ rate: 0 }, { rate: 10.5 }, { rate: Number.NaN }, { rate: Number.POSITIVE_INFINITY }, { bumpMs: -1 }, { bumpMs: 3_600_001 }, { rate: 2, bumpMs: -1 }]) {
    assert.throws(() => clock.skew(bad), { code: 'KEEL_NODE_CLOCK_SKEW_INVALID' }, JSON.stringify(bad));
  }
  assert.deepEqual(clock.state(), { rate: 1, aheadMs: 0 });
});

test('an unskewed clock reads exactly the host time and is exactly 0 ahead, at fractional host readings too', () => {
  // performance.now() gives fractional ms; anchor + (now - anchor) is off by an ulp for some of them,
  // which a CI run caught as "1.1e-13 ms ahead" on a clock nobody had skewed.
  let time = 5_234.567_891_234;
  const clock = new SkewableClock(() => time);
  for (const step of [0.1, 1e-7, 3.333_333_333, 123_456.789, 0.000_123]) {
    time += step;
    assert.equal(clock.now(), time);
    assert.deepEqual(clock.state(), { rate: 1, aheadMs: 0 });
  }
  clock.skew({ rate: 1 });
  time += 0.3;
  assert.deepEqual(clock.state(), { rate: 1, aheadMs: 0 }, 'a rate-1 skew adds nothing');
});
