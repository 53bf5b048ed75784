/**
 * A plain HTTP backend for the gateway scenarios (and the gateway
 * benchmarks): every request is answered with a small body after
 * `delayMs` (0: at once); with `capacity`, at most that many are served at
 * once and the rest wait in a bounded FIFO queue, as a thread pool would.
 *
 * Two control routes let an experiment act on it over HTTP (loopback only):
 *
 *   POST /__keel/fault {"status": 503, "delayMs": 2000, "forMs": 10000}
 *       for `forMs`, answer every request with `status` at once (an outage
 *       that refuses work), and/or add `delayMs` to its service time (a slow
 *       dependency); it reverts on its own, so a run that dies leaves none.
 *   GET /__keel/stats
 *       {"requests": N, "served": N, "refused": N, "queued": N}: what reached
 *       it (control routes not counted), so a scenario can see the work a
 *       retry storm made.
 *
 * It is a node -e script so a benchmark or an experiment can start it as a
 * child process and kill it by its pid.
 */

export interface BackendOptions {
  readonly delayMs?: number;
  readonly capacity?: number;
}

/** The FIFO queue's bound: past it, requests are answered 503 at once. */
export const BACKEND_QUEUE_MAX = 100_000;
/** A control fault lasts at most this long (ms). */
export const BACKEND_FAULT_MS_MAX = 600_000;

export function backendSource(port: number, options: BackendOptions = {}): string {
  return `
const http = require('node:http');
const delay = ${options.delayMs ?? 0}, capacity = ${options.capacity ?? 0};
const stats = { requests: 0, served: 0, refused: 0, queued: 0 };
let fault = { status: 0, delayMs: 0, untilMs: 0 };
let busy = 0; const queue = [];
const faulty = () => Date.now() < fault.untilMs;
function serve(req, res) {
  busy++;
  const done = () => { stats.served++; res.end('ok'); busy--; const next = queue.shift(); if (next) serve(next[0], next[1]); };
  const ms = delay + (faulty() ? fault.delayMs : 0);
  if (ms > 0) setTimeout(done, ms); else done();
}
function control(req, res, body) {
  res.setHeader('content-type', 'application/json');
  if (req.method === 'GET' && req.url === '/__keel/stats') return res.end(JSON.stringify({ ...stats, queued: queue.length }));
  if (req.method === 'POST' && req.url === '/__keel/fault') {
    let spec;
    try { spec = JSON.parse(body || '{}'); } catch { res.statusCode = 400; return res.end('{"error":"not JSON"}'); }
    const forMs = Math.min(Number(spec.forMs) || 0, ${BACKEND_FAULT_MS_MAX});
    fault = { status: Number(spec.status) || 0, delayMs: Math.max(0, Number(spec.delayMs) || 0), untilMs: Date.now() + forMs };
    return res.end(JSON.stringify({ ...fault, forMs }));
  }
  res.statusCode = 404; res.end('{"error":"no such control route"}');
}
http.createServer({ keepAliveTimeout: 60000 }, (req, res) => {
  const chunks = [];
  req.on('data', (chunk) => { if (req.url.startsWith('/__keel/')) chunks.push(chunk); });
  req.on('end', () => {
    if (req.url.startsWith('/__keel/')) return control(req, res, Buffer.concat(chunks).toString());
    stats.requests++;
    if (faulty() && fault.status > 0) { stats.refused++; res.statusCode = fault.status; return res.end(); }
    if (capacity > 0 && busy >= capacity) { if (queue.length < ${BACKEND_QUEUE_MAX}) queue.push([req, res]); else { stats.refused++; res.statusCode = 503; res.end(); } }
    else serve(req, res);
  });
}).listen(${port}, '127.0.0.1');`;
}
