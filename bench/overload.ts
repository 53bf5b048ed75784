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
 * Usage: npx tsx bench/overload.ts [--seconds N] [--workers W] [--service-ms S] [--deadline-ms D]
 */
import { Agent, request } from 'undici';
import { numberArgument } from './lib/gateway/args.js';
import { markdownTable, newHistogram } from './lib/load.js';
import { freeLoopbackPorts, sleepMs } from './lib/net.js';
import { startBackend, startKeelGateway, stop, type Started } from './lib/gateway/processes.js';

const SECONDS = numberArgument('seconds', 4);
const WORKERS = numberArgument('workers', 2);
const SERVICE_MS = numberArgument('service-ms', 20);
const DEADLINE_MS = numberArgument('deadline-ms', 500);
const CAPACITY = (WORKERS * 1000) / SERVICE_MS;
const MULTIPLIERS = [1, 2, 5, 10];
/** In-flight requests the generator allows before it counts arrivals as dropped. */
const INFLIGHT_MAX = 4_000;
/** The mix: half critical (CRITICAL_PLUS + CRITICAL), half sheddable. */
const MIX = [
  { level: 'CRITICAL_PLUS', share: 0.1 }, { level: 'CRITICAL', share: 0.4 }, { level: 'SHEDDABLE_PLUS', share: 0.2 }, { level: 'SHEDDABLE', share: 0.3 },
] as const;
const isCritical = (level: string) => level === 'CRITICAL_PLUS' || level === 'CRITICAL';

function gatewayYaml(port: number, backend: number, protect: boolean): string {
  const admission = protect
    ? `    adaptiveConcurrency: { initialLimit: ${WORKERS * 2}, minLimit: ${WORKERS}, maxLimit: ${WORKERS * 16}, criticalShare: 0.9, queueSize: 500, queueTargetDelayMs: ${Math.max(5, SERVICE_MS)}, queueIntervalMs: ${Math.max(100, SERVICE_MS * 5)} }\n`
    : '';
  return `
listeners: [{ port: ${port} }]
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

const rows: string[][] = [];
for (const protect of [true, false]) {
  const [backendPort, gatewayPort] = (await freeLoopbackPorts(2)) as [number, number];
  const processes: Started[] = [];
  try {
    processes.push(await startBackend(backendPort, { delayMs: SERVICE_MS, capacity: WORKERS }));
    processes.push(await startKeelGateway(gatewayYaml(gatewayPort, backendPort, protect), gatewayPort));
    for (const multiplier of MULTIPLIERS) {
      const result = await phase(gatewayPort, CAPACITY * multiplier);
      const goodput = result.good / SECONDS;
      const critical = result.goodCritical / SECONDS;
      const reasons = [...result.rejected].sort((a, b) => b[1] - a[1]).map(([reason, count]) => `${reason} ${count}`).join(', ');
      console.error(`${protect ? 'on ' : 'off'} ${multiplier}x: goodput ${goodput.toFixed(0)}/s, critical ${critical.toFixed(0)}/s, critical p99 ${result.criticalP99Ms.toFixed(0)} ms, dropped ${result.dropped}; ${reasons}`);
      rows.push([
        protect ? 'on' : 'off', `${multiplier}×`, String(Math.round(CAPACITY * multiplier)), goodput.toFixed(0), `${((goodput / CAPACITY) * 100).toFixed(0)}%`,
        critical.toFixed(0), `${((critical / CAPACITY) * 100).toFixed(0)}%`, result.goodCritical > 0 ? result.criticalP99Ms.toFixed(0) : '-', reasons || '-',
      ]);
      await sleepMs(1_000); // let the backend's queue empty between phases
    }
  } finally {
    for (const started of processes.reverse()) await stop(started);
  }
}
console.log(`Overload: backend capacity C = ${CAPACITY} req/s (${WORKERS} workers × ${SERVICE_MS} ms, FIFO queue), deadline ${DEADLINE_MS} ms, ${SECONDS} s per load, mix 10% CRITICAL_PLUS, 40% CRITICAL, 20% SHEDDABLE_PLUS, 30% SHEDDABLE, Node ${process.version}.\n`);
console.log(markdownTable(['protection', 'load', 'offered req/s', 'goodput req/s', 'goodput ÷ C', 'critical goodput req/s', 'critical ÷ C', 'critical p99 ms', 'not good (reason count)'], rows));
