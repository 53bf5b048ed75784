/**
 * The gateway's data-path cost as a new user would measure it: wrk (one
 * thread, 64 connections) against keel on its fast path, keel on node:http
 * + undici, keel with every protection off, nginx with one worker and
 * HAProxy with one thread (when installed), and a bare Node L4 pipe (the
 * floor any Node proxy pays before HTTP work), all in one run, in alternating
 * rounds, through the same two node backends. CPU per request is the proxy's
 * own utime+stime from /proc/<pid>/stat over the round, summed over its
 * process tree (a single process here; see `--workers`), so wrk's and the
 * backends' share does not blur it. Loopback only; every round is bounded
 * by wrk's duration.
 *
 * `--workers 1,2` (default 1) adds, for each count N above 1, keel gateway
 * with `--workers N` (the fast path with protections on, as the first row),
 * nginx with `worker_processes N` (and its master) and HAProxy with
 * `nbthread N`, measured in the same alternating rounds with wrk -tN and N
 * times the connections; each proxy's CPU is that of every process in its
 * tree (keel's primary and workers, nginx's master and workers), and their
 * rows compare with nginx with N workers.
 *
 * `--tls` adds a TLS twin of every proxy, started beside its cleartext
 * self and measured in the same alternating rounds: keel's listener with
 * `tls` (docs/gateway.md, "TLS"), nginx with `listen ... ssl` and HAProxy
 * with `bind ... ssl crt`, all serving the same RSA 2048 certificate from a
 * throwaway CA (bench/lib/tls.ts) with their default ciphers and TLS 1.2
 * and 1.3 (the notes name what each negotiates with a Node client; wrk's
 * OpenSSL offers the same TLS 1.3 suites), the same backends in cleartext,
 * and wrk on https://. wrk keeps its connections alive, so after the
 * first request of each connection the rows measure per-request record
 * crypto, not handshakes. TLS rows compare with nginx over TLS, and two
 * more columns give each proxy's TLS row over its cleartext row (req/s and
 * CPU µs/req): the cost of TLS in that proxy.
 *
 * `--baseline DIR` adds a row for another build (DIR holds its `dist/`,
 * `package.json` and a `node_modules` link, e.g. a copy taken before a
 * change) with the first row's config, measured in the same alternating
 * rounds: an optimisation's before and after under the same load, where
 * separate runs on a shared box differ by more than the step.
 *
 * Usage: npx tsx bench/gateway-wrk.ts [--seconds N] [--rounds N] [--connections N] [--tls] [--workers 1,2] [--baseline DIR]
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cpus } from 'node:os';
import { limits } from '../src/gateway/index.js';
import { countListArgument, flagArgument, numberArgument, stringArgument } from './lib/gateway/args.js';
import { keelBenchConfig } from './lib/gateway/keel-config.js';
import { markdownTable } from './lib/table.js';
import { freeLoopbackPorts } from './lib/net.js';
import { treeCpuMicros } from './lib/process-tree.js';
import { HAPROXY_BINARY, type ServerTlsFiles, startBackend, startHaproxy, startKeelGateway, startNginx, startNodePipe, stop, type Started } from './lib/gateway/processes.js';
import { makeBenchPki, negotiated } from './lib/tls.js';

const SECONDS = numberArgument('seconds', 5);
const ROUNDS = numberArgument('rounds', 3);
const CONNECTIONS = numberArgument('connections', 64);
const TLS = flagArgument('tls');
/** How many workers (keel, nginx) or threads (HAProxy) each proxy runs with, one set of rows per count. */
const WORKER_COUNTS = countListArgument('workers', [1], limits.WORKERS_MAX);
/** Another build to measure beside this one (see the usage above). */
const BASELINE = stringArgument('baseline');
if (BASELINE !== undefined && !existsSync(`${BASELINE}/dist/src/cli/main.js`)) throw new Error('--baseline needs a folder holding dist/src/cli/main.js');

/** wrk's arguments for a proxy with `workers` workers: a thread and CONNECTIONS connections per worker, so wrk is not what caps N of them. */
function wrkLoad(workers: number, seconds: number): string[] {
  return [`-t${workers}`, `-c${CONNECTIONS * workers}`, `-d${seconds}s`];
}

/** The proxy's CPU (its whole process tree), in µs. */
function proxyCpuMicros(started: Started): number {
  const micros = treeCpuMicros(started.child.pid as number);
  if (micros === undefined) throw new Error(`${started.name} (pid ${started.child.pid}) is gone`);
  return micros;
}

interface Run { rps: number; p99Ms: number; cpuUsPerRequest: number; errors: number }

function wrk(url: string, workers: number): { rps: number; p99Ms: number; requests: number; errors: number } {
  const output = execFileSync('wrk', [...wrkLoad(workers, SECONDS), '--latency', url], { timeout: (SECONDS + 30) * 1000 }).toString();
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(output)?.[1] ?? 0);
  const requests = Number(/(\d+) requests in/.exec(output)?.[1] ?? 0);
  const p99 = /\s99%\s+([\d.]+)(us|ms|s)/.exec(output);
  const p99Ms = p99 ? Number(p99[1]) * (p99[2] === 'us' ? 0.001 : p99[2] === 's' ? 1000 : 1) : NaN;
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(output)?.[1] ?? 0);
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(output);
  const errors = non2xx + (socketErrors ? socketErrors.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0);
  return { rps, p99Ms, requests, errors };
}

function measure(target: Target): Run {
  const before = proxyCpuMicros(target.started);
  const result = wrk(target.url, target.workers);
  const usedMicros = proxyCpuMicros(target.started) - before;
  return { rps: result.rps, p99Ms: result.p99Ms, cpuUsPerRequest: usedMicros / Math.max(1, result.requests), errors: result.errors };
}

interface Target {
  readonly name: string;
  /** The cleartext twin's name, on a TLS row. */
  readonly cleartext: string | undefined;
  /** The row this one is divided by: nginx with as many workers, over TLS on a TLS row. */
  readonly anchor: string;
  readonly workers: number;
  readonly url: string;
  readonly started: Started;
}

interface Proxy {
  readonly name: string;
  readonly workers: number;
  start(port: number, tls: ServerTlsFiles | undefined): Promise<Started>;
}

const plural = (count: number, noun: string): string => `${count} ${noun}${count === 1 ? '' : 's'}`;
const nginxName = (workers: number): string => `nginx, ${plural(workers, 'worker')}`;
const tlsName = (name: string): string => `${name}, TLS`;
/** keel's row with one worker (the fast path with protections on): what `keel gateway --workers N` runs N of. */
const KEEL_ONE_WORKER = 'keel fast path, protections on';
const keelName = (workers: number): string => (workers === 1 ? KEEL_ONE_WORKER : `keel gateway, ${plural(workers, 'worker')}`);
/** The floor of any Node proxy (bench/lib/gateway/processes.ts, startNodePipe). */
const NODE_PIPE = 'node net pipe (L4, no HTTP: a Node proxy\'s floor)';
const haproxyName = (threads: number): string => `HAProxy, ${plural(threads, 'thread')}`;

/** keel's three rows, nginx and HAProxy with one worker; keel, nginx and HAProxy with `workers` for more. */
function proxiesWith(workers: number, backends: readonly number[], haproxy: boolean): Proxy[] {
  const haproxyRow: Proxy[] = haproxy ? [{ name: haproxyName(workers), workers, start: (port, tls) => startHaproxy(port, backends, { threads: workers, ...(tls ? { tls } : {}) }) }] : [];
  if (workers === 1) {
    return [
      { name: KEEL_ONE_WORKER, workers, start: (port, tls) => startKeelGateway(keelBenchConfig(port, backends, 'fast', true, tls), port) },
      ...(BASELINE === undefined ? [] : [{
        name: `${KEEL_ONE_WORKER} (baseline build)`, workers, start: (port: number, tls: ServerTlsFiles | undefined) => startKeelGateway(keelBenchConfig(port, backends, 'fast', true, tls), port, { build: BASELINE }),
      }]),
      { name: 'keel node path, protections on', workers, start: (port, tls) => startKeelGateway(keelBenchConfig(port, backends, 'node', true, tls), port) },
      { name: 'keel fast path, protections off', workers, start: (port, tls) => startKeelGateway(keelBenchConfig(port, backends, 'fast', false, tls), port) },
      { name: nginxName(1), workers, start: (port, tls) => startNginx(port, backends, { singleProcess: true, ...(tls ? { tls } : {}) }) },
      { name: NODE_PIPE, workers, start: (port, tls) => startNodePipe(port, backends, tls ? { tls } : {}) },
      ...haproxyRow,
    ];
  }
  return [
    {
      name: keelName(workers),
      workers,
      start: async (port, tls) => {
        const [adminPort] = (await freeLoopbackPorts(1)) as [number];
        return startKeelGateway(keelBenchConfig(port, backends, 'fast', true, tls), port, { workers, adminPort });
      },
    },
    { name: nginxName(workers), workers, start: (port, tls) => startNginx(port, backends, { workers, ...(tls ? { tls } : {}) }) },
    ...haproxyRow,
  ];
}

/** Each proxy's req/s with N workers over its req/s with 1 (cleartext medians), when 1 and more were measured. */
function scalingLine(counts: readonly number[], rps: (name: string) => number, haproxy: boolean): string | undefined {
  const more = counts.filter((workers) => workers > 1);
  if (!counts.includes(1) || more.length === 0) return undefined;
  const families: readonly (readonly [string, (workers: number) => string])[] = [['keel', keelName], ['nginx', nginxName], ...(haproxy ? [['HAProxy', haproxyName] as const] : [])];
  const parts = more.flatMap((workers) => families.map(([family, name]) => `${family} ${(rps(name(workers)) / rps(name(1))).toFixed(2)}x with ${workers}`));
  return `Scaling, req/s with N workers or threads ÷ with 1 (medians, cleartext): ${parts.join(', ')}.`;
}

const pki = TLS ? makeBenchPki() : undefined;
const processes: Started[] = [];
try {
  const [backendA, backendB] = (await freeLoopbackPorts(2)) as [number, number];
  processes.push(await startBackend(backendA), await startBackend(backendB));
  const backends = [backendA, backendB];
  const haproxy = existsSync(HAPROXY_BINARY);
  if (!haproxy) console.error(`${HAPROXY_BINARY} missing: HAProxy rows left out (apt-get install -y haproxy)`);
  const proxies = WORKER_COUNTS.flatMap((workers) => proxiesWith(workers, backends, haproxy));
  const serverTls = pki?.memberFiles(0);
  const targets: Target[] = [];
  for (const proxy of proxies) {
    const [port, tlsPort] = (await freeLoopbackPorts(2)) as [number, number];
    const started = await proxy.start(port, undefined);
    processes.push(started);
    const anchor = nginxName(proxy.workers);
    targets.push({ name: proxy.name, cleartext: undefined, anchor, workers: proxy.workers, url: `http://127.0.0.1:${port}/`, started });
    if (serverTls === undefined) continue;
    const startedTls = await proxy.start(tlsPort, serverTls);
    processes.push(startedTls);
    targets.push({ name: tlsName(proxy.name), cleartext: proxy.name, anchor: tlsName(anchor), workers: proxy.workers, url: `https://127.0.0.1:${tlsPort}/`, started: startedTls });
  }
  const notes: string[] = [];
  for (const target of targets) {
    // warm-up: JIT, pools, connections
    execFileSync('wrk', [...wrkLoad(target.workers, 1), target.url], { timeout: 30_000 });
    if (target.cleartext !== undefined) notes.push(`${target.name}: ${await negotiated(target.url, { ca: pki!.clientCredentials.ca })}`);
  }
  const runs = new Map<string, Run[]>(targets.map((target) => [target.name, []]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const target of targets) {
      const run = measure(target);
      runs.get(target.name)?.push(run);
      console.error(`round ${round + 1} ${target.name}: ${Math.round(run.rps)} req/s, p99 ${run.p99Ms.toFixed(2)} ms, ${run.cpuUsPerRequest.toFixed(1)} µs CPU/req, errors ${run.errors}`);
    }
  }
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;
  const range = (values: number[], digits: number) => `${Math.min(...values).toFixed(digits)}–${Math.max(...values).toFixed(digits)}`;
  const medians = (name: string) => {
    const list = runs.get(name) ?? [];
    return { rps: median(list.map((r) => r.rps)), cpu: median(list.map((r) => r.cpuUsPerRequest)), p99: median(list.map((r) => r.p99Ms)) };
  };
  const cpuSource = WORKER_COUNTS.some((workers) => workers > 1) ? "the proxy's /proc utime+stime summed over its processes (keel's primary and workers, nginx's master and workers)" : "the proxy process's /proc utime+stime";
  const load = WORKER_COUNTS.map((workers) => `wrk ${wrkLoad(workers, SECONDS).join(' ')}${WORKER_COUNTS.length > 1 ? ` for ${plural(workers, 'worker')}/thread${workers === 1 ? '' : 's'}` : ''}`).join(', ');
  console.log(`${load}, ${ROUNDS} rounds per target alternating (range shown; ratios from medians), 2 node backends answering "ok", Node ${process.version}. CPU: ${cpuSource} ÷ requests. Shared ${cpus().length}-core machine: noisy.`);
  if (WORKER_COUNTS.some((workers) => workers > 1)) console.log('keel gateway, N workers: `keel gateway --workers N`, the fast path with protections on (as "keel fast path, protections on", its 1-worker row); rows with N workers or threads compare with nginx with N workers.');
  if (TLS) console.log(`TLS rows: wrk over https with keep-alive (one handshake per connection), one RSA 2048 certificate for every proxy, ÷ nginx against nginx over TLS; backends in cleartext. Negotiated:\n${notes.map((note) => `- ${note}`).join('\n')}`);
  console.log('');
  const header = ['proxy', 'req/s', 'p99 ms', 'CPU µs/req', 'errors', 'req/s ÷ nginx', 'CPU ÷ nginx', 'p99 ÷ nginx'];
  console.log(markdownTable(
    TLS ? [...header, 'req/s TLS ÷ clear', 'CPU TLS ÷ clear'] : header,
    targets.map((target) => {
      const list = runs.get(target.name) ?? [];
      const own = medians(target.name);
      const nginx = medians(target.anchor);
      const row = [
        target.name, range(list.map((r) => r.rps), 0), range(list.map((r) => r.p99Ms), 2), range(list.map((r) => r.cpuUsPerRequest), 1),
        String(list.reduce((sum, r) => sum + r.errors, 0)),
        (own.rps / nginx.rps).toFixed(2), (own.cpu / nginx.cpu).toFixed(2), (own.p99 / nginx.p99).toFixed(2),
      ];
      if (!TLS) return row;
      const clear = target.cleartext === undefined ? undefined : medians(target.cleartext);
      return [...row, clear ? (own.rps / clear.rps).toFixed(2) : '–', clear ? (own.cpu / clear.cpu).toFixed(2) : '–'];
    }),
  ));
  const scaling = scalingLine(WORKER_COUNTS, (name) => medians(name).rps, haproxy);
  if (scaling !== undefined) console.log(`\n${scaling}`);
} finally {
  for (const started of processes.reverse()) await stop(started);
  pki?.remove();
}
