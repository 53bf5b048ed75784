import type { Stage } from '../options.js';
import { runArrivals } from './arrival-rate.js';
import type { ExecutorContext } from './context.js';
import { rampingArrivals } from './schedule.js';

/** The arrival rate follows the stages linearly, open model (k6's ramping-arrival-rate). */
export async function rampingArrivalRate(
  plan: { readonly startRate: number; readonly timeUnitMs: number; readonly stages: readonly Stage[]; readonly preAllocatedVUs: number; readonly maxVUs: number },
  context: ExecutorContext,
): Promise<void> {
  await runArrivals(rampingArrivals(plan.startRate, plan.timeUnitMs, plan.stages), plan.preAllocatedVUs, plan.maxVUs, context);
}
