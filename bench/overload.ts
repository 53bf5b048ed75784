/**
 * Overload: a backend with a fixed capacity C (W workers × S ms per
 * request, FIFO queue), offered 1×, 2×, 5× and 10× C as an open-model
 * arrival rate with mixed criticalities, through keel gateway with its
 * protection on (adaptive concurrency partitioned by criticality, bounded
 * CoDel queue) and off (plain proxying). Every request carries a deadline
 * (`keel-deadline`); goodput counts 200s answered within it. Arrivals that
 * would exceed the in-flight cap are counted as dropped, not delayed (k6's
 * open model), so there is no coordinated omission. Loopback only; every
 * phase is bounded in time and count.
 *
 * C is measured, not assumed: right before each load, the backend is driven
 * closed-loop (2 × W clients, straight to it) for a few seconds and its
 * throughput is that row's C, from which the offered rate and the goal are
 * computed (the nominal W × 1000 / S is printed beside it). Timers fire a
 * little late and the box is shared, so the nominal figure overstates what
 * the backend can do, and by how much drifts while other work runs;
 * measuring per row keeps the goal honest on a noisy box.
 *
 * Goal (issue 17), checked on every protected row: critical goodput ≥ 95% of
 * min(critical demand, C) and critical p99 ≤ 50% of the deadline. The last
 * column says whether it was met; the exit code is 99 when one was not.
 *
 * Usage: npx tsx bench/overload.ts [--seconds N] [--workers W] [--service-ms S] [--deadline-ms D] [--algorithm vegas|gradient]
 */
import { Agent, request } from 'undici';
import { numberArgument } from './lib/gateway/args.js';
import { newHistogram } from '../src/load/index.js';
import { markdownTable } from './lib/table.js';
import { freeLoopbackPorts, sleepMs } from './lib/net.js';
import { startBackend, startKeelGateway, stop, type Started } from './lib/gateway/processes.js';

const SECONDS = numberArgument('seconds', 4);
const WORKERS = numberArgument('workers', 2);
const SERVICE_MS = numberArgument('service-ms', 20);
const DEADLINE_MS = numberArgument('deadline-ms', 500);
const NOMINAL_CAPACITY = (WORKERS * 1000) / SERVICE_MS;
const CALIBRATION_SECONDS = 2;
const ALGORITHM = process.argv.includes('--algorithm') ? String(process.argv[process.argv.indexOf('--algorithm') + 1]) : 'vegas';
if (ALGORITHM !== 'vegas' && ALGORITHM !== 'gradient') throw new Error('--algorithm must be vegas or gradient');
/** The goal: critical goodput at least this share of min(critical demand, C) ... */
const GOAL_CRITICAL_SHARE = 0.95;
/** ... with the critical p99 at most this share of the deadline. */
const GOAL_P99_DEADLINE_SHARE = 0.5;
const MULTIPLIERS = [1, 2, 5, 10];
/** CoDel target of the critical levels: patience worth a tenth of the deadline (sheddable levels keep the cluster's target). */
const CRITICAL_TARGET_MS = Math.max(5, Math.round(DEADLINE_MS / 10));
/** In-flight requests the generator allows before it counts arrivals as dropped. */
const INFLIGHT_MAX = 4_000;
/** The mix: half critical (CRITICAL_PLUS + CRITICAL), half sheddable. */
const MIX = [
  { level: 'CRITICAL_PLUS', share: 0.1 }, { level: 'CRITICAL', share: 0.4 }, { level: 'SHEDDABLE_PLUS', share: 0.2 }, { level: 'SHEDDABLE', share: 0.3 },
] as const;
const isCritical = (level: string) => level === 'CRITICAL_PLUS' || level === 'CRITICAL';

function gatewayYaml(port: number, adminPort: number, backend: number, protect: boolean): string {
  const admission = protect
    ? `    adaptiveConcurrency: { limitAlgorithm: ${ALGORITHM}, initialLimit: ${WORKERS * 2}, minLimit: ${WORKERS}, maxLimit: ${WORKERS * 16}, criticalShare: 0.9, queueSize: 500, ` +
      `queueTargetDelayMs: ${Math.max(5, SERVICE_MS)}, queueIntervalMs: ${Math.max(100, SERVICE_MS * 5)}, ` +
      `queueTargetDelayMsByCriticality: { CRITICAL_PLUS: ${CRITICAL_TARGET_MS}, CRITICAL: ${CRITICAL_TARGET_MS} } }\n`
    : '';
  return `
listeners: [{ port: ${port} }]
admin: { port: ${adminPort} }
routes: [{ name: all, match: { prefix: / }, cluster: app, retry: { maxAttempts: 1 }, timeoutMs: ${DEADLINE_MS} }]
clusters:
  app:
    endpoints: [{ address: "127.0.0.1:${backend}" }]
    circuitBreakers: { maxConnections: 256, maxPendingRequests: 100000, maxRequests: 100000 }
${admission}limits: { maxConnectionsPerClientIp: 100000, maxConnections: 100000 }
`;
}

interface PhaseResult {
  offered: number;
  dropped: number;
  good: number;
  goodCritical: number;
  offeredCritical: number;
  rejected: Map<string, number>;
  criticalP99Ms: number;
}

async function phase(port: number, rate: number): Promise<PhaseResult> {
  const agent = new Agent({ connections: 2_048, keepAliveTimeout: 30_000 });
  const histogram = newHistogram();
  const result: PhaseResult = { offered: 0, dropped: 0, good: 0, goodCritical: 0, offeredCritical: 0, rejected: new Map(), criticalP99Ms: 0 };
  const total = Math.floor(rate * SECONDS);
  const pending = new Set<Promise<void>>();
  const startMs = performance.now();
  let draw = 0;
  for (let index = 0; index < total; index++) {
    const dueMs = startMs + (index * 1000) / rate;
    const waitMs = dueMs - performance.now();
    if (waitMs > 1) await sleepMs(waitMs);
    draw = (draw + 0.6180339887) % 1; // low-discrepancy mix: the same sequence every run
    let acc = 0;
    const level = (MIX.find((entry) => (acc += entry.share) > draw) ?? MIX[3]).level;
    result.offered++;
    if (isCritical(level)) result.offeredCritical++;
    if (pending.size >= INFLIGHT_MAX) {
      result.dropped++;
      continue;
    }
    const one = (async () => {
      const began = performance.now();
      try {
        const response = await request(`http://127.0.0.1:${port}/`, {
          dispatcher: agent, headers: { 'keel-criticality': level, 'keel-deadline': String(DEADLINE_MS) }, signal: AbortSignal.timeout(DEADLINE_MS),
        });
        await response.body.dump();
        const latency = performance.now() - began;
        if (response.statusCode === 200 && latency <= DEADLINE_MS) {
          result.good++;
          if (isCritical(level)) {
            result.goodCritical++;
            histogram.recordValue(Math.max(1, Math.round(latency * 1000)));
          }
        } else {
          const reason = String(response.headers['keel-reject-reason'] ?? response.statusCode);
          result.rejected.set(reason, (result.rejected.get(reason) ?? 0) + 1);
        }
      } catch {
        result.rejected.set('client-deadline', (result.rejected.get('client-deadline') ?? 0) + 1);
      }
    })();
    pending.add(one);
    void one.finally(() => pending.delete(one));
  }
  await Promise.all(pending);
  result.criticalP99Ms = histogram.getValueAtPercentile(99) / 1000;
  histogram.destroy();
  await agent.close();
  return result;
}

/** How long the backend may take to work off what an unprotected row left in its FIFO queue. */
const DRAIN_TIMEOUT_MS = 120_000;

/** Waits until one request straight to the backend takes at most 3 service times: its queue is empty. */
async function waitForIdleBackend(port: number): Promise<void> {
  const deadlineMs = performance.now() + DRAIN_TIMEOUT_MS;
  while (performance.now() < deadlineMs) {
    const beganMs = performance.now();
    const response = await request(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(DRAIN_TIMEOUT_MS) });
    await response.body.dump();
    if (performance.now() - beganMs <= SERVICE_MS * 3) return;
    await sleepMs(200);
  }
  throw new Error(`backend on port ${port} still busy after ${DRAIN_TIMEOUT_MS} ms`);
}

/** The backend's throughput driven closed-loop, straight to it, by 2 × W clients for CALIBRATION_SECONDS: this row's C. */
async function calibrate(port: number): Promise<number> {
  await waitForIdleBackend(port);
  const agent = new Agent({ connections: WORKERS * 2 });
  const endMs = performance.now() + CALIBRATION_SECONDS * 1000;
  let served = 0;
  const client = async () => {
    while (performance.now() < endMs) {
      const response = await request(`http://127.0.0.1:${port}/`, { dispatcher: agent, signal: AbortSignal.timeout(DEADLINE_MS * 10) });
      await response.body.dump();
      if (response.statusCode === 200) served++;
    }
  };
  const startMs = performance.now();
  await Promise.all(Array.from({ length: WORKERS * 2 }, client));
  const elapsedSeconds = (performance.now() - startMs) / 1000;
  await agent.close();
  return served / elapsedSeconds;
}

/** The gateway's admission state from its admin endpoint, for the log: limit, queue, what was shed. */
async function admissionState(adminPort: number): Promise<string> {
  const response = await request(`http://127.0.0.1:${adminPort}/clusters`, { signal: AbortSignal.timeout(10_000) });
  const body = (await response.body.json()) as { concurrency?: { app?: Record<string, unknown> } };
  const app = body.concurrency?.app ?? {};
  return ['limit', 'admitted', 'rejected', 'shedFromQueue', 'shedOnArrival'].map((key) => `${key} ${String(app[key])}`).join(', ');
}

const rows: string[][] = [];
const capacities: number[] = [];
let goalMissed = false;
for (const protect of [true, false]) {
  const [backendPort, gatewayPort, adminPort] = (await freeLoopbackPorts(3)) as [number, number, number];
  const processes: Started[] = [];
  try {
    processes.push(await startBackend(backendPort, { delayMs: SERVICE_MS, capacity: WORKERS }));
    processes.push(await startKeelGateway(gatewayYaml(gatewayPort, adminPort, backendPort, protect), gatewayPort));
    for (const multiplier of MULTIPLIERS) {
      const capacity = await calibrate(backendPort);
      capacities.push(capacity);
      const result = await phase(gatewayPort, capacity * multiplier);
      const goodput = result.good / SECONDS;
      const critical = result.goodCritical / SECONDS;
      const criticalDemand = result.offeredCritical / SECONDS;
      const criticalGoal = GOAL_CRITICAL_SHARE * Math.min(criticalDemand, capacity);
      const met = critical >= criticalGoal && result.goodCritical > 0 && result.criticalP99Ms <= GOAL_P99_DEADLINE_SHARE * DEADLINE_MS;
      if (protect && !met) goalMissed = true;
      if (protect) console.error(`  admission after ${multiplier}x: ${await admissionState(adminPort)}`);
      const reasons = [...result.rejected].sort((a, b) => b[1] - a[1]).map(([reason, count]) => `${reason} ${count}`).join(', ');
      console.error(`${protect ? 'on ' : 'off'} ${multiplier}x: C ${capacity.toFixed(1)}/s, goodput ${goodput.toFixed(0)}/s, critical ${critical.toFixed(0)}/s of demand ${criticalDemand.toFixed(0)}/s (goal ${criticalGoal.toFixed(0)}), critical p99 ${result.criticalP99Ms.toFixed(0)} ms, dropped ${result.dropped}; ${reasons}`);
      rows.push([
        protect ? 'on' : 'off', `${multiplier}×`, capacity.toFixed(0), String(Math.round(capacity * multiplier)), goodput.toFixed(0), `${((goodput / capacity) * 100).toFixed(0)}%`,
        `${critical.toFixed(0)} / ${Math.min(criticalDemand, capacity).toFixed(0)}`, `${((critical / Math.min(criticalDemand, capacity)) * 100).toFixed(0)}%`,
        result.goodCritical > 0 ? result.criticalP99Ms.toFixed(0) : '-', met ? 'yes' : 'no', reasons || '-',
      ]);
      await sleepMs(1_000); // let the backend's queue empty between phases
    }
  } finally {
    for (const started of processes.reverse()) await stop(started);
  }
}
console.log(`Overload: backend ${WORKERS} workers × ${SERVICE_MS} ms (nominal ${NOMINAL_CAPACITY} req/s, FIFO queue); C measured closed-loop before each row: ${Math.min(...capacities).toFixed(0)}–${Math.max(...capacities).toFixed(0)} req/s; ` +
  `deadline ${DEADLINE_MS} ms, ${SECONDS} s per load, mix 10% CRITICAL_PLUS, 40% CRITICAL, 20% SHEDDABLE_PLUS, 30% SHEDDABLE; limit algorithm ${ALGORITHM}, critical CoDel target ${CRITICAL_TARGET_MS} ms; Node ${process.version}.\n`);
console.log(`Goal: critical goodput ≥ ${GOAL_CRITICAL_SHARE * 100}% of min(critical demand, C), critical p99 ≤ ${GOAL_P99_DEADLINE_SHARE * DEADLINE_MS} ms.\n`);
console.log(markdownTable(['protection', 'load', 'C req/s', 'offered req/s', 'goodput req/s', 'goodput ÷ C', 'critical goodput / min(demand, C) req/s', 'critical ÷ min(demand, C)', 'critical p99 ms', 'goal met', 'not good (reason count)'], rows));
if (goalMissed) process.exitCode = 99;
