/**
 * The fast path's per-request leaves, one at a time, in one process: the
 * request and response head parsers on the heads bench/gateway-wrk.ts sends
 * and gets (wrk's request, a browser-like one, node's response), the
 * request and response head splices, the rate limiter's keyed lookup for
 * one hot client IP, and the per-request metrics. Each is timed by this
 * process's CPU time (process.cpuUsage, user + system), not the wall
 * clock, so other work on a shared box stretches a round less than it
 * stretches gateway-wrk's end-to-end figures; rounds alternate and the
 * median is printed.
 *
 * `--baseline DIR` times another build's same functions (DIR/dist, e.g. a
 * copy taken before a change) in the same alternating rounds and prints the
 * ratio: an optimisation's before and after on its own leaf, where one
 * microsecond is below gateway-wrk's noise. A leaf the baseline build does
 * not have is left out of its column.
 *
 * Usage: npx tsx bench/gateway-hot-path.ts [--rounds N] [--baseline DIR] (after npm run build: it times dist/)
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { numberArgument, stringArgument } from './lib/gateway/args.js';
import { markdownTable } from './lib/table.js';

const ROUNDS = numberArgument('rounds', 7);
const BASELINE = stringArgument('baseline');
/** Iterations per leaf per round: enough CPU time (tens of ms) for cpuUsage's microsecond resolution. */
const ITERATIONS = 200_000;

const WRK_REQUEST = 'GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n';
const BROWSER_REQUEST = 'GET /api/items?page=2 HTTP/1.1\r\nHost: shop.example.com\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64)\r\nAccept: application/json\r\n'
  + 'Accept-Encoding: gzip, deflate, br\r\nAccept-Language: en-GB,en;q=0.9\r\nConnection: keep-alive\r\nCookie: session=abc123; theme=dark\r\nX-Request-Id: 5f2c\r\n\r\n';
const NODE_RESPONSE = 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nDate: Sun, 06 Dec 2026 20:00:00 GMT\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nContent-Length: 2\r\n\r\n';

/** What a leaf needs from a build. */
interface Build {
  readonly name: string;
  readonly headParser: {
    parseRequestHead(bytes: Buffer): { connectionTokens: readonly string[] };
    parseResponseHead(bytes: Buffer, method: string): { connectionTokens: readonly string[] };
  };
  readonly proxy: { spliceHead(head: unknown, dropped: ReadonlySet<string>, named: readonly string[], extra: string, firstLine?: string, tail?: Buffer): Buffer };
  readonly lru: { BoundedLru: new (maxEntries: number, canEvict?: (value: number) => boolean, force?: boolean) => { get(key: string, create: () => number): number | undefined } };
  readonly metrics: { GatewayMetrics: new () => Record<string, unknown> };
  readonly interceptors: { hostWithoutPort?: (host: string) => string; pathOf?: (url: string) => string };
}

async function load(name: string, root: string): Promise<Build> {
  const module = (path: string) => {
    const file = join(root, 'dist/src', path);
    if (!existsSync(file)) throw new Error(`${file} is missing: run npm run build (or point --baseline at a build)`);
    return import(file);
  };
  return {
    name,
    headParser: await module('gateway/http1/head-parser.js'),
    proxy: await module('gateway/http1/proxy.js'),
    lru: await module('resilience/lru.js'),
    metrics: await module('gateway/metrics.js'),
    interceptors: await module('gateway/interceptors.js'),
  };
}

type Leaf = (build: Build) => (() => void) | undefined;

const REQUEST_DROPPED = new Set(['connection', 'keep-alive', 'x-forwarded-for', 'via', 'keel-deadline']);
const REQUEST_EXTRA = 'x-forwarded-for: 127.0.0.1\r\nx-forwarded-proto: http\r\nvia: 1.1 keel-gateway\r\nkeel-deadline: 29999\r\ngrpc-timeout: 29999m\r\n';
const RESPONSE_DROPPED = new Set(['connection', 'keep-alive', 'via']);
const RESPONSE_EXTRA = 'via: 1.1 keel-gateway\r\nratelimit-policy: "per-ip";q=10000000;w=1\r\nratelimit: "per-ip";r=99999\r\n';
const BODY = Buffer.from('ok');

const LEAVES: ReadonlyArray<readonly [string, Leaf]> = [
  ['parse wrk request head', (build) => {
    const bytes = Buffer.from(WRK_REQUEST, 'latin1');
    return () => build.headParser.parseRequestHead(bytes);
  }],
  ['parse browser-like request head (8 fields)', (build) => {
    const bytes = Buffer.from(BROWSER_REQUEST, 'latin1');
    return () => build.headParser.parseRequestHead(bytes);
  }],
  ['parse node response head', (build) => {
    const bytes = Buffer.from(NODE_RESPONSE, 'latin1');
    return () => build.headParser.parseResponseHead(bytes, 'GET');
  }],
  ['splice request head (browser-like)', (build) => {
    const head = build.headParser.parseRequestHead(Buffer.from(BROWSER_REQUEST, 'latin1'));
    return () => build.proxy.spliceHead(head, REQUEST_DROPPED, head.connectionTokens, REQUEST_EXTRA);
  }],
  ['splice response head and its body', (build) => {
    const head = build.headParser.parseResponseHead(Buffer.from(NODE_RESPONSE, 'latin1'), 'GET');
    const withTail = build.proxy.spliceHead.length >= 6;
    return withTail
      ? () => build.proxy.spliceHead(head, RESPONSE_DROPPED, head.connectionTokens, RESPONSE_EXTRA, undefined, BODY)
      : () => Buffer.concat([build.proxy.spliceHead(head, RESPONSE_DROPPED, head.connectionTokens, RESPONSE_EXTRA), BODY]);
  }],
  ['route interceptor: host without port, path without query', (build) => {
    const { hostWithoutPort, pathOf } = build.interceptors;
    if (hostWithoutPort === undefined || pathOf === undefined) {
      // before hostWithoutPort and pathOf: the expressions the route interceptor ran per request
      return () => {
        ('127.0.0.1:8080'.replace(/:\d+$/, '').toLowerCase());
        ('/api/items?page=2'.split('?')[0]);
      };
    }
    return () => {
      hostWithoutPort('127.0.0.1:8080');
      pathOf('/api/items?page=2');
    };
  }],
  ['rate-limit key lookup, one hot IP among 100', (build) => {
    const lru = new build.lru.BoundedLru(10_000, () => true, true);
    for (let index = 0; index < 100; index++) lru.get(`10.0.0.${index}`, () => index);
    lru.get('127.0.0.1', () => 1);
    return () => lru.get('127.0.0.1', () => 0);
  }],
  ['per-request metrics (count and duration)', (build) => {
    const metrics = new build.metrics.GatewayMetrics() as Record<string, unknown> & {
      countRequest?: (route: string, cluster: string, status: number) => void;
      observeDuration?: (route: string, cluster: string, seconds: number) => void;
      requests: { inc(labels: Record<string, string>): void };
      duration: { observe(labels: Record<string, string>, value: number): void };
    };
    if (metrics.countRequest === undefined || metrics.observeDuration === undefined) {
      // before the tallies: prom-client on every request, as the gateway called it
      return () => {
        metrics.requests.inc({ route: 'all', cluster: 'app', code_class: `${Math.floor(200 / 100)}xx` });
        metrics.duration.observe({ route: 'all', cluster: 'app' }, 0.0012);
      };
    }
    const { countRequest, observeDuration } = metrics as Required<typeof metrics>;
    return () => {
      countRequest.call(metrics, 'all', 'app', 200);
      observeDuration.call(metrics, 'all', 'app', 0.0012);
    };
  }],
];

/** CPU ns per call of `run` over ITERATIONS calls. */
function cpuNanosPerCall(run: () => void): number {
  const before = process.cpuUsage();
  for (let index = 0; index < ITERATIONS; index++) run();
  const used = process.cpuUsage(before);
  return ((used.user + used.system) * 1000) / ITERATIONS;
}

const root = new URL('..', import.meta.url).pathname;
const builds = [await load('this build', root), ...(BASELINE === undefined ? [] : [await load('baseline', BASELINE)])];
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;
const rows: string[][] = [];
for (const [leafName, leaf] of LEAVES) {
  const runs = builds.map((build) => leaf(build));
  const samples: number[][] = builds.map(() => []);
  for (const run of runs) if (run !== undefined) cpuNanosPerCall(run); // warm-up: JIT
  for (let round = 0; round < ROUNDS; round++) {
    runs.forEach((run, index) => {
      if (run !== undefined) samples[index]!.push(cpuNanosPerCall(run));
    });
  }
  const medians = samples.map((list) => (list.length === 0 ? NaN : median(list)));
  rows.push([leafName, ...medians.map((value) => (Number.isNaN(value) ? '-' : value.toFixed(0))), ...(builds.length > 1 ? [(medians[0]! / medians[1]!).toFixed(2)] : [])]);
}
console.log(`CPU ns per call (process.cpuUsage), ${ITERATIONS} calls per round, ${ROUNDS} alternating rounds, median; Node ${process.version}.${BASELINE === undefined ? '' : ` Baseline: ${BASELINE}.`}\n`);
console.log(markdownTable(['leaf', ...builds.map((build) => `${build.name} ns`), ...(builds.length > 1 ? ['this ÷ baseline'] : [])], rows));
