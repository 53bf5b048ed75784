/**
 * The gateway's data-path cost as a new user would measure it: wrk (one
 * thread, 64 connections) against keel on its fast path, keel on node:http
 * + undici, keel with every protection off, nginx with one worker and
 * HAProxy with one thread (when installed), all in one run, in alternating
 * rounds, through the same two node backends. CPU per request is the proxy
 * process's own utime+stime from /proc/<pid>/stat over the round, so wrk's
 * and the backends' share does not blur it. Loopback only; every round is
 * bounded by wrk's duration.
 *
 * Usage: npx tsx bench/gateway-wrk.ts [--seconds N] [--rounds N] [--connections N]
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { numberArgument } from './lib/gateway/args.js';
import { markdownTable } from './lib/load.js';
import { freeLoopbackPorts } from './lib/net.js';
import { HAPROXY_BINARY, startBackend, startHaproxy, startKeelGateway, startNginx, stop, type Started } from './lib/gateway/processes.js';

const SECONDS = numberArgument('seconds', 5);
const ROUNDS = numberArgument('rounds', 3);
const CONNECTIONS = numberArgument('connections', 64);
const CLOCK_TICKS_PER_SECOND = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim());

/** utime + stime of a process, in seconds. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
}

interface Run { rps: number; p99Ms: number; cpuUsPerRequest: number; errors: number }

function wrk(port: number): { rps: number; p99Ms: number; requests: number; errors: number } {
  const output = execFileSync('wrk', ['-t1', `-c${CONNECTIONS}`, `-d${SECONDS}s`, '--latency', `http://127.0.0.1:${port}/`], { timeout: (SECONDS + 30) * 1000 }).toString();
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(output)?.[1] ?? 0);
  const requests = Number(/(\d+) requests in/.exec(output)?.[1] ?? 0);
  const p99 = /\s99%\s+([\d.]+)(us|ms|s)/.exec(output);
  const p99Ms = p99 ? Number(p99[1]) * (p99[2] === 'us' ? 0.001 : p99[2] === 's' ? 1000 : 1) : NaN;
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(output)?.[1] ?? 0);
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(output);
  const errors = non2xx + (socketErrors ? socketErrors.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0);
  return { rps, p99Ms, requests, errors };
}

function measure(target: Started): Run {
  const pid = target.child.pid as number;
  const before = cpuSeconds(pid);
  const result = wrk(target.port);
  const used = cpuSeconds(pid) - before;
  return { rps: result.rps, p99Ms: result.p99Ms, cpuUsPerRequest: (used * 1e6) / Math.max(1, result.requests), errors: result.errors };
}

function keelConfig(port: number, backends: readonly number[], engine: 'fast' | 'node', protections: boolean): string {
  const endpoints = backends.map((b) => `{ address: "127.0.0.1:${b}" }`).join(', ');
  if (!protections) {
    return `
listeners: [{ port: ${port}, engine: ${engine} }]
routes: [{ name: all, match: { prefix: / }, cluster: app }]
clusters:
  app: { balancer: round-robin, endpoints: [${endpoints}], circuitBreakers: { maxConnections: 64 } }
limits: { maxConnectionsPerClientIp: 10000 }
`;
  }
  // Every protection on, none of them refusing at this load: routing, the balancer, active health checks and outlier
  // detection, a per-IP rate limit, criticality admission with adaptive concurrency, metrics (always on).
  return `
listeners: [{ port: ${port}, engine: ${engine} }]
routes: [{ name: all, match: { prefix: / }, cluster: app, retry: { maxAttempts: 2 } }]
clusters:
  app:
    balancer: least-request
    endpoints: [${endpoints}]
    circuitBreakers: { maxConnections: 64 }
    healthCheck: { path: /, intervalMs: 1000, timeoutMs: 500 }
    outlierDetection: { consecutive5xx: 5 }
    adaptiveConcurrency: { initialLimit: 200, minLimit: 64, maxLimit: 2000 }
rateLimits:
  - { name: per-ip, descriptor: { clientIp: true }, algorithm: gcra, limit: 10000000, windowMs: 1000, burst: 100000 }
limits: { maxConnectionsPerClientIp: 10000 }
`;
}

const ports = await freeLoopbackPorts(7);
const [backendA, backendB, fastPort, nodePort, barePort, nginxPort, haproxyPort] = ports as [number, number, number, number, number, number, number];
const processes: Started[] = [];
try {
  processes.push(await startBackend(backendA), await startBackend(backendB));
  const backends = [backendA, backendB];
  const targets: Array<{ name: string; started: Started }> = [
    { name: 'keel fast path, protections on', started: await startKeelGateway(keelConfig(fastPort, backends, 'fast', true), fastPort) },
    { name: 'keel node path, protections on', started: await startKeelGateway(keelConfig(nodePort, backends, 'node', true), nodePort) },
    { name: 'keel fast path, protections off', started: await startKeelGateway(keelConfig(barePort, backends, 'fast', false), barePort) },
    { name: 'nginx, 1 worker', started: await startNginx(nginxPort, backends, { singleProcess: true }) },
  ];
  if (existsSync(HAPROXY_BINARY)) targets.push({ name: 'HAProxy, 1 thread', started: await startHaproxy(haproxyPort, backends) });
  else console.error(`${HAPROXY_BINARY} missing: HAProxy row left out (apt-get install -y haproxy)`);
  processes.push(...targets.map((target) => target.started));
  // warm-up: JIT, pools, connections
  for (const target of targets) execFileSync('wrk', ['-t1', `-c${CONNECTIONS}`, '-d1s', `http://127.0.0.1:${target.started.port}/`]);
  const runs = new Map<string, Run[]>(targets.map((target) => [target.name, []]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const target of targets) {
      const run = measure(target.started);
      runs.get(target.name)?.push(run);
      console.error(`round ${round + 1} ${target.name}: ${Math.round(run.rps)} req/s, p99 ${run.p99Ms.toFixed(2)} ms, ${run.cpuUsPerRequest.toFixed(1)} µs CPU/req, errors ${run.errors}`);
    }
  }
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;
  const range = (values: number[], digits: number) => `${Math.min(...values).toFixed(digits)}–${Math.max(...values).toFixed(digits)}`;
  const nginx = runs.get('nginx, 1 worker') ?? [];
  const nginxRps = median(nginx.map((r) => r.rps));
  const nginxCpu = median(nginx.map((r) => r.cpuUsPerRequest));
  const nginxP99 = median(nginx.map((r) => r.p99Ms));
  console.log(`wrk -t1 -c${CONNECTIONS} -d${SECONDS}s, ${ROUNDS} rounds per target alternating (range shown; ratios from medians), 2 node backends answering "ok", Node ${process.version}. CPU: the proxy process's /proc utime+stime ÷ requests. Shared 2-core machine: noisy.\n`);
  console.log(markdownTable(
    ['proxy', 'req/s', 'p99 ms', 'CPU µs/req', 'errors', 'req/s ÷ nginx', 'CPU ÷ nginx', 'p99 ÷ nginx'],
    targets.map((target) => {
      const list = runs.get(target.name) ?? [];
      return [
        target.name, range(list.map((r) => r.rps), 0), range(list.map((r) => r.p99Ms), 2), range(list.map((r) => r.cpuUsPerRequest), 1),
        String(list.reduce((sum, r) => sum + r.errors, 0)),
        (median(list.map((r) => r.rps)) / nginxRps).toFixed(2), (median(list.map((r) => r.cpuUsPerRequest)) / nginxCpu).toFixed(2), (median(list.map((r) => r.p99Ms)) / nginxP99).toFixed(2),
      ];
    }),
  ));
} finally {
  for (const started of processes.reverse()) await stop(started);
}
