import { mayContinue, startInBatches, type ExecutorContext } from './context.js';
import { untilAllOrEnd } from './per-vu-iterations.js';

/** `vus` VUs share `iterations` iterations, each taking the next as it frees up, within `maxDurationMs` (k6's shared-iterations). */
export async function sharedIterations(plan: { readonly vus: number; readonly iterations: number; readonly maxDurationMs: number }, context: ExecutorContext): Promise<void> {
  const endMs = context.startMs + plan.maxDurationMs;
  let taken = 0;
  let active = Math.min(plan.vus, plan.iterations);
  context.activeVus(active);
  const loop = async (vu: number): Promise<void> => {
    while (taken < plan.iterations && mayContinue(context, endMs)) {
      taken++;
      await context.iterate(vu);
    }
    context.activeVus(--active);
  };
  const loops: Promise<void>[] = [];
  await startInBatches(context, Array.from({ length: active }, (_, vu) => vu), (vu) => void loops.push(loop(vu)));
  await untilAllOrEnd(loops, context, endMs);
}
