import { runArrivals } from './arrival-rate.js';
import type { ExecutorContext } from './context.js';
import { constantArrivals } from './schedule.js';

/** `rate` iterations per `timeUnitMs` for `durationMs`, open model (k6's constant-arrival-rate). */
export async function constantArrivalRate(
  plan: { readonly rate: number; readonly timeUnitMs: number; readonly durationMs: number; readonly preAllocatedVUs: number; readonly maxVUs: number; readonly phaseMs: number },
  context: ExecutorContext,
): Promise<void> {
  await runArrivals(constantArrivals(plan.rate, plan.timeUnitMs, plan.durationMs, plan.phaseMs), plan.preAllocatedVUs, plan.maxVUs, context);
}

