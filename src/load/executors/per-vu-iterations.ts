import { mayContinue, startInBatches, type ExecutorContext } from './context.js';

/** Each of `vus` VUs runs `iterations` iterations, within `maxDurationMs` (k6's per-vu-iterations). */
export async function perVuIterations(plan: { readonly vus: number; readonly iterations: number; readonly maxDurationMs: number }, context: ExecutorContext): Promise<void> {
  const endMs = context.startMs + plan.maxDurationMs;
  let active = plan.vus;
  context.activeVus(active);
  const loop = async (vu: number): Promise<void> => {
    for (let done = 0; done < plan.iterations && mayContinue(context, endMs); done++) await context.iterate(vu);
    context.activeVus(--active);
  };
  const loops: Promise<void>[] = [];
  await startInBatches(context, Array.from({ length: plan.vus }, (_, vu) => vu), (vu) => void loops.push(loop(vu)));
  await untilAllOrEnd(loops, context, endMs);
}

/** Waits for the loops or for the end of the time allowed, whichever is first. */
export async function untilAllOrEnd(loops: readonly Promise<void>[], context: ExecutorContext, endMs: number): Promise<void> {
  const ended = new AbortController();
  const all = Promise.all(loops).then(() => ended.abort());
  const signal = AbortSignal.any([ended.signal, context.signal]);
  await context.clock.sleepUntil(endMs, signal).catch(() => undefined);
  void all;
}
