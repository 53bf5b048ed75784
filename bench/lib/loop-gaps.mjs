// Preloaded into a member by bench/startup-stall.ts (`node --import`): a 5 ms
// interval from the first moment of the process, printing every gap between
// its callbacks over 50 ms to stderr as a JSON line ({"loopGapMs", "time"}).
// monitorEventLoopDelay (the member's own gauge) misses a stall that comes
// before its histogram's second callback, which is where a synchronous
// startup load sits; this sees every turn from module load on.
const INTERVAL_MS = 5;
const REPORT_GAP_MS = 50;
let last = performance.now();
const timer = setInterval(() => {
  const now = performance.now();
  const gap = now - last - INTERVAL_MS;
  last = now;
  if (gap > REPORT_GAP_MS) process.stderr.write(`${JSON.stringify({ loopGapMs: Math.round(gap), time: new Date().toISOString() })}\n`);
}, INTERVAL_MS);
timer.unref();
