/**
 * Hedged requests against a long tail: two backends that answer at once,
 * except that a seeded `--stall-percent` of requests (per backend request,
 * either backend) stall for `--stall-ms`. The same closed-loop load
 * (`--clients` at a time, `--requests` in all) goes through a keel gateway
 * (fast path) without hedging (the anchor) and with the route's default
 * hedge policy (p95 delay, 10% budget), in alternating rounds, in one
 * process: backends, gateways and client share one event loop, so the
 * figures are for comparing the two modes, not absolute. Printed: client
 * latency percentiles, backend requests per client request (the hedges'
 * extra load), hedges sent and won, and the ratio hedged/unhedged.
 * Loopback only; every loop is bounded by the request count.
 *
 * Usage: npx tsx bench/gateway-hedge.ts [--requests N] [--clients N] [--rounds N] [--stall-percent P] [--stall-ms N] [--seed N]
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent, request } from 'undici';
import { parseGatewayConfig } from '../src/gateway/config.js';
import { Gateway } from '../src/gateway/gateway.js';
import { seededRandom } from '../src/resilience/index.js';
import { numberArgument } from './lib/gateway/args.js';
import { markdownTable } from './lib/table.js';

const REQUESTS = numberArgument('requests', 3_000);
const CLIENTS = numberArgument('clients', 8);
const ROUNDS = numberArgument('rounds', 2);
const STALL_PERCENT = numberArgument('stall-percent', 3);
const STALL_MS = numberArgument('stall-ms', 50);
const SEED = numberArgument('seed', 1);

const random = seededRandom(SEED);
let backendRequests = 0;

function startBackend(): Promise<Server> {
  const server = createServer((incoming, response) => {
    backendRequests++;
    incoming.resume();
    const answer = () => response.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    if (random.next() * 100 < STALL_PERCENT) setTimeout(answer, STALL_MS);
    else answer();
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

interface RoundResult {
  readonly latenciesMs: number[];
  readonly backendPerRequest: number;
  readonly hedgesSent: number;
  readonly hedgesWon: number;
}

async function hedgeCounts(gateway: Gateway): Promise<{ sent: number; won: number }> {
  const text = await gateway.metrics.registry.metrics();
  const count = (outcome: string): number => Number(new RegExp(`keel_gateway_hedges_total\\{route="all",outcome="${outcome}"\\} (\\d+)`).exec(text)?.[1] ?? 0);
  return { sent: count('won') + count('lost'), won: count('won') };
}

async function round(gateway: Gateway, agent: Agent): Promise<RoundResult> {
  const before = await hedgeCounts(gateway);
  const backendBefore = backendRequests;
  const latenciesMs: number[] = [];
  let next = 0;
  const url = `http://127.0.0.1:${gateway.ports[0]}/`;
  await Promise.all(Array.from({ length: CLIENTS }, async () => {
    while (next < REQUESTS) {
      next++;
      const startedMs = performance.now();
      const response = await request(url, { dispatcher: agent });
      await response.body.dump();
      latenciesMs.push(performance.now() - startedMs);
    }
  }));
  const after = await hedgeCounts(gateway);
  return { latenciesMs, backendPerRequest: (backendRequests - backendBefore) / REQUESTS, hedgesSent: after.sent - before.sent, hedgesWon: after.won - before.won };
}

function percentile(sorted: readonly number[], fraction: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(fraction * sorted.length) - 1))] ?? 0;
}

const backends = [await startBackend(), await startBackend()];
const endpoints = backends.map((server) => ({ address: `127.0.0.1:${(server.address() as AddressInfo).port}` }));
const configOf = (hedge: boolean) => parseGatewayConfig({
  listeners: [{ port: 0 }],
  routes: [{ name: 'all', match: { prefix: '/' }, cluster: 'app', ...(hedge ? { hedge: {} } : {}) }],
  clusters: { app: { balancer: 'round-robin', endpoints } },
});
const modes = [
  { name: 'unhedged', gateway: await Gateway.start({ config: configOf(false), random: seededRandom(SEED) }) },
  { name: 'hedged (p95, 10% budget)', gateway: await Gateway.start({ config: configOf(true), random: seededRandom(SEED) }) },
];
const agent = new Agent({ connections: CLIENTS });
const results = new Map<string, RoundResult[]>(modes.map((mode) => [mode.name, []]));
try {
  for (let index = 0; index < ROUNDS; index++) {
    for (const mode of modes) results.get(mode.name)!.push(await round(mode.gateway, agent));
  }
} finally {
  await agent.close();
  for (const mode of modes) await mode.gateway.close();
  for (const server of backends) server.closeAllConnections(), server.close();
}

const summaries = modes.map((mode) => {
  const rounds = results.get(mode.name)!;
  const sorted = rounds.flatMap((result) => result.latenciesMs).sort((a, b) => a - b);
  return {
    name: mode.name,
    p50: percentile(sorted, 0.5), p90: percentile(sorted, 0.9), p99: percentile(sorted, 0.99), p999: percentile(sorted, 0.999),
    backendPerRequest: rounds.reduce((sum, result) => sum + result.backendPerRequest, 0) / rounds.length,
    hedgesSent: rounds.reduce((sum, result) => sum + result.hedgesSent, 0),
    hedgesWon: rounds.reduce((sum, result) => sum + result.hedgesWon, 0),
  };
});
const [anchor, keel] = summaries as [typeof summaries[0], typeof summaries[0]];
const ms = (value: number): string => value.toFixed(2);
console.log(`${ROUNDS} rounds x ${REQUESTS} requests, ${CLIENTS} clients; ${STALL_PERCENT}% of backend requests stall ${STALL_MS} ms (seed ${SEED})\n`);
console.log(markdownTable(['mode', 'p50 ms', 'p90 ms', 'p99 ms', 'p99.9 ms', 'backend req / req', 'hedges sent', 'hedges won'], [
  ...summaries.map((s) => [s.name, ms(s.p50), ms(s.p90), ms(s.p99), ms(s.p999), s.backendPerRequest.toFixed(3), String(s.hedgesSent), String(s.hedgesWon)]),
  ['ratio hedged/unhedged', (keel.p50 / anchor.p50).toFixed(2), (keel.p90 / anchor.p90).toFixed(2), (keel.p99 / anchor.p99).toFixed(2), (keel.p999 / anchor.p999).toFixed(2),
    (keel.backendPerRequest / anchor.backendPerRequest).toFixed(3), '', ''],
]));
