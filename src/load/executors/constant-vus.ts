import { mayContinue, sleepUntil, startInBatches, type ExecutorContext } from './context.js';

/** `vus` VUs loop over iterations for `durationMs` (k6's constant-vus). */
export async function constantVus(plan: { readonly vus: number; readonly durationMs: number }, context: ExecutorContext): Promise<void> {
  const endMs = context.startMs + plan.durationMs;
  context.activeVus(plan.vus);
  const loop = async (vu: number): Promise<void> => {
    while (mayContinue(context, endMs)) await context.iterate(vu);
  };
  const loops: Promise<void>[] = [];
  await startInBatches(context, Array.from({ length: plan.vus }, (_, vu) => vu), (vu) => void loops.push(loop(vu)));
  await sleepUntil(context, endMs);
  void Promise.all(loops).then(() => context.activeVus(0));
}
