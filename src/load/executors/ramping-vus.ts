import type { Stage } from '../options.js';
import { mayContinue, sleepUntil, startInBatches, type ExecutorContext } from './context.js';
import { vuSteps } from './schedule.js';

/**
 * The VU count follows the stages linearly (k6's ramping-vus). A VU above
 * the count stops after its current iteration (a graceful ramp-down: it is
 * never interrupted mid-iteration); a VU below it that had stopped starts again.
 */
export async function rampingVus(plan: { readonly startVUs: number; readonly stages: readonly Stage[] }, context: ExecutorContext): Promise<void> {
  const steps = vuSteps(plan.startVUs, plan.stages);
  const endMs = context.startMs + steps[steps.length - 1]!.atMs;
  let target = plan.startVUs;
  const running = new Set<number>();
  const loop = async (vu: number): Promise<void> => {
    running.add(vu);
    context.activeVus(running.size);
    while (vu < target && mayContinue(context, endMs)) await context.iterate(vu);
    running.delete(vu);
    context.activeVus(running.size);
  };
  function* stopped(count: number): Generator<number> {
    for (let vu = 0; vu < count; vu++) if (!running.has(vu)) yield vu;
  }
  const startUpTo = async (count: number): Promise<void> => {
    if (running.size < count) await startInBatches(context, stopped(count), (vu) => void loop(vu));
  };
  await startUpTo(target);
  for (let index = 0; index < steps.length; ) {
    if (!(await sleepUntil(context, context.startMs + steps[index]!.atMs))) return;
    // Every step already due is taken at once: a busy event loop must not slow the ramp to one step per turn.
    const nowMs = context.clock.nowMs();
    do target = steps[index++]!.vus;
    while (index < steps.length && context.startMs + steps[index]!.atMs <= nowMs);
    await startUpTo(target);
  }
}
