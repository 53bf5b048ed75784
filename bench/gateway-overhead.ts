/**
 * The gateway's overhead: the same closed-loop load straight to the
 * backends, through keel gateway, through nginx and through HAProxy, in the
 * same run, in alternating rounds (so machine noise hits them alike), with
 * the same two backend processes. The load is keel/load's (bench/lib/load.ts):
 * `--clients` VUs in a closed loop (shared-iterations, bounded by `--seconds`
 * and `--max-ops`), each a GET at a time on its own keep-alive HTTP/1.1
 * connection (VU n to backend (n - 1) mod 2 when direct), fresh VUs and
 * connections per target and round, 1 s of warm-up in the first round;
 * figures from the engine's summary. Each proxy is one process with one worker
 * or thread (keel is one Node.js event loop). Loopback only; every round is
 * bounded in time and operation count.
 *
 * Usage: npx tsx bench/gateway-overhead.ts [--seconds N] [--rounds N] [--clients N] [--max-ops N]
 */
import type { VU } from '../src/load/index.js';
import { numberArgument } from './lib/gateway/args.js';
import { runClosedLoop, type LoadResult } from './lib/load.js';
import { markdownTable } from './lib/table.js';
import { freeLoopbackPorts } from './lib/net.js';
import { ensureProxies, startBackend, startHaproxy, startKeelGateway, startNginx, stop, type Started } from './lib/gateway/processes.js';

const SECONDS = numberArgument('seconds', 3);
const ROUNDS = numberArgument('rounds', 3);
const CLIENTS = numberArgument('clients', 32);
const MAX_OPS = numberArgument('max-ops', 200_000);

const [backendA, backendB, keelPort, nginxPort, haproxyPort] = (await freeLoopbackPorts(5)) as [number, number, number, number, number];
ensureProxies((line) => console.error(line));
const processes: Started[] = [];
try {
  processes.push(await startBackend(backendA), await startBackend(backendB));
  processes.push(await startKeelGateway(`
listeners: [{ port: ${keelPort} }]
routes: [{ name: all, match: { prefix: / }, cluster: app }]
clusters:
  app:
    balancer: round-robin
    endpoints: [{ address: "127.0.0.1:${backendA}" }, { address: "127.0.0.1:${backendB}" }]
    circuitBreakers: { maxConnections: 64 }
limits: { maxConnectionsPerClientIp: 10000 }
`, keelPort));
  processes.push(await startNginx(nginxPort, [backendA, backendB]));
  processes.push(await startHaproxy(haproxyPort, [backendA, backendB]));

  const targets = [
    { name: 'direct (no proxy)', ports: [backendA, backendB] },
    { name: 'keel gateway', ports: [keelPort] },
    { name: 'nginx', ports: [nginxPort] },
    { name: 'HAProxy', ports: [haproxyPort] },
  ];
  const results = new Map<string, LoadResult[]>(targets.map((t) => [t.name, []]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const target of targets) {
      // VU n keeps one keep-alive connection to port (n - 1) mod ports; each round opens them afresh.
      const urls = target.ports.map((port) => `http://127.0.0.1:${port}/`);
      const result = await runClosedLoop({ clients: CLIENTS, seconds: SECONDS, maxOps: MAX_OPS, warmupSeconds: round === 0 ? 1 : 0 }, (vu: VU) => vu.http.get(urls[(vu.id - 1) % urls.length]!));
      results.get(target.name)?.push(result);
      console.error(`round ${round + 1} ${target.name}: ${Math.round(result.opsPerSecond)} req/s, p50 ${result.p50Ms.toFixed(2)} ms, p99 ${result.p99Ms.toFixed(2)} ms, errors ${result.errors}`);
    }
  }
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;
  const summary = targets.map((target) => {
    const runs = results.get(target.name) ?? [];
    return { name: target.name, rps: median(runs.map((r) => r.opsPerSecond)), p50: median(runs.map((r) => r.p50Ms)), p99: median(runs.map((r) => r.p99Ms)), errors: runs.reduce((s, r) => s + r.errors, 0) };
  });
  const keel = summary[1]!;
  console.log(`Gateway overhead: ${CLIENTS} closed-loop clients, ${ROUNDS} rounds × ${SECONDS} s per target (median shown), 2 node backends answering "ok", Node ${process.version}.\n`);
  console.log(markdownTable(
    ['target', 'req/s', 'p50 ms', 'p99 ms', 'errors', 'req/s ÷ direct', 'keel req/s ÷ this'],
    summary.map((row) => [row.name, String(Math.round(row.rps)), row.p50.toFixed(2), row.p99.toFixed(2), String(row.errors), (row.rps / summary[0]!.rps).toFixed(2), (keel.rps / row.rps).toFixed(2)]),
  ));
} finally {
  for (const started of processes.reverse()) await stop(started);
}
