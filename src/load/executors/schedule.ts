/**
 * The pure math of the schedules: when arrivals are due and when a VU ramp
 * changes its count. No clock, no I/O, so tests assert them exactly.
 */
import type { Stage } from '../options.js';

/**
 * Arrival offsets (ms from the scenario start) for a rate that moves linearly
 * from `startRate` through each stage's target (rates per `timeUnitMs`).
 * Arrival k (k = 0, 1, ...) is due when the integral of the rate reaches k,
 * so a constant rate r gives 0, 1/r, 2/r, ... and a ramp speeds up linearly.
 * Bounded: ends with the last stage.
 */
export function* rampingArrivals(startRate: number, timeUnitMs: number, stages: readonly Stage[]): Generator<number> {
  let stageStartMs = 0;
  let stageStartCount = 0;
  let fromRate = startRate / timeUnitMs;
  let next = 0;
  for (const stage of stages) {
    const toRate = stage.target / timeUnitMs;
    const lengthMs = stage.durationMs;
    const slope = lengthMs > 0 ? (toRate - fromRate) / lengthMs : 0;
    const stageCount = lengthMs > 0 ? fromRate * lengthMs + (slope * lengthMs * lengthMs) / 2 : 0;
    const stageEndCount = stageStartCount + stageCount;
    while (next < stageEndCount - 1e-9) {
      const within = next - stageStartCount;
      yield stageStartMs + offsetWithin(fromRate, slope, within, lengthMs);
      next++;
    }
    stageStartMs += lengthMs;
    stageStartCount = stageEndCount;
    fromRate = toRate;
  }
}

/** Solves fromRate·t + slope·t²/2 = count for t in [0, lengthMs]. */
function offsetWithin(fromRate: number, slope: number, count: number, lengthMs: number): number {
  if (count <= 0) return 0;
  if (Math.abs(slope) < 1e-15) return count / fromRate;
  const discriminant = Math.max(0, fromRate * fromRate + 2 * slope * count);
  const t = (Math.sqrt(discriminant) - fromRate) / slope;
  return Math.min(lengthMs, Math.max(0, t));
}

/** A constant rate's arrivals: phase, phase + 1/r, ... below `durationMs`. */
export function* constantArrivals(rate: number, timeUnitMs: number, durationMs: number, phaseMs = 0): Generator<number> {
  if (rate <= 0) return;
  const periodMs = timeUnitMs / rate;
  for (let k = 0; ; k++) {
    const atMs = phaseMs + k * periodMs;
    if (atMs >= durationMs) return;
    yield atMs;
  }
}

export interface VuStep {
  readonly atMs: number;
  readonly vus: number;
}

/**
 * A linear VU ramp as the instants its whole count changes: going up from v0
 * to v1 over D, count n is reached when v0 + (v1 - v0)·t/D = n; going down,
 * the count drops to n at the same kind of instant. Ends with the ramp's
 * total length and a count of 0.
 */
export function vuSteps(startVUs: number, stages: readonly Stage[]): VuStep[] {
  const steps: VuStep[] = [];
  let atMs = 0;
  let from = startVUs;
  for (const stage of stages) {
    const to = stage.target;
    if (stage.durationMs === 0) {
      if (to !== from) steps.push({ atMs, vus: to });
    } else if (to > from) {
      for (let n = from + 1; n <= to; n++) steps.push({ atMs: atMs + ((n - from) / (to - from)) * stage.durationMs, vus: n });
    } else if (to < from) {
      for (let n = from - 1; n >= to; n--) steps.push({ atMs: atMs + ((from - n) / (from - to)) * stage.durationMs, vus: n });
    }
    atMs += stage.durationMs;
    from = to;
  }
  steps.push({ atMs, vus: 0 });
  return steps;
}
