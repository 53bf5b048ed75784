/** The executors by k6's names. */
import type { ExecutorPlan } from '../options.js';
import { constantArrivalRate } from './constant-arrival-rate.js';
import { constantVus } from './constant-vus.js';
import type { ExecutorContext } from './context.js';
import { perVuIterations } from './per-vu-iterations.js';
import { rampingArrivalRate } from './ramping-arrival-rate.js';
import { rampingVus } from './ramping-vus.js';
import { sharedIterations } from './shared-iterations.js';

export type { ExecutorContext } from './context.js';
export { constantArrivals, rampingArrivals, vuSteps } from './schedule.js';

/** Runs a plan's schedule; resolves when it is over (iterations may still be running). */
export function runExecutor(plan: ExecutorPlan, context: ExecutorContext): Promise<void> {
  switch (plan.executor) {
    case 'constant-vus':
      return constantVus(plan, context);
    case 'ramping-vus':
      return rampingVus(plan, context);
    case 'constant-arrival-rate':
      return constantArrivalRate(plan, context);
    case 'ramping-arrival-rate':
      return rampingArrivalRate(plan, context);
    case 'per-vu-iterations':
      return perVuIterations(plan, context);
    case 'shared-iterations':
      return sharedIterations(plan, context);
  }
}

/** The most VUs a plan can use (for the vus_max gauge and connection budgets). */
export function vusMax(plan: ExecutorPlan): number {
  switch (plan.executor) {
    case 'constant-vus':
    case 'per-vu-iterations':
    case 'shared-iterations':
      return plan.vus;
    case 'ramping-vus':
      return Math.max(plan.startVUs, ...plan.stages.map((stage) => stage.target));
    case 'constant-arrival-rate':
    case 'ramping-arrival-rate':
      return plan.maxVUs;
  }
}
