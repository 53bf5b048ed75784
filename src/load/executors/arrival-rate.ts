import { sleepUntil, type ExecutorContext } from './context.js';

/** Arrivals handled back to back before yielding to I/O, when the schedule runs behind. */
const BURST_MAX = 256;

/**
 * The open model shared by both arrival-rate executors: each arrival (an
 * offset in ms from the scenario start) takes a free VU, allocating one up to
 * `maxVUs`; an arrival that finds none is dropped and counted, never queued,
 * so a slow target cannot slow the schedule down (no coordinated omission).
 * The iteration is told its intended start, and latency is measured from it.
 */
export async function runArrivals(arrivals: Iterable<number>, preAllocatedVUs: number, maxVUs: number, context: ExecutorContext): Promise<void> {
  const free: number[] = [];
  for (let vu = preAllocatedVUs - 1; vu >= 0; vu--) free.push(vu);
  let allocated = preAllocatedVUs;
  context.activeVus(allocated);
  let burst = 0;
  for (const offsetMs of arrivals) {
    const atMs = context.startMs + offsetMs;
    if (atMs > context.clock.nowMs() || ++burst >= BURST_MAX) {
      burst = 0;
      if (!(await sleepUntil(context, atMs))) return;
    }
    if (context.signal.aborted) return;
    let vu = free.pop();
    if (vu === undefined && allocated < maxVUs) {
      vu = allocated++;
      context.activeVus(allocated);
    }
    if (vu === undefined) {
      context.dropped();
      continue;
    }
    const taken = vu;
    void context.iterate(taken, atMs).then(() => free.push(taken));
  }
}
