import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { runLoad, type RunConfig } from '../../src/load/index.js';

const fixtures = join(import.meta.dirname, 'fixtures');
let server: Server;
let target: string;
let dir: string;

/** Swallows the progress line and summary text; keeps them for assertions. */
function sink(): Writable & { text: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({ write: (chunk, _encoding, done) => void (chunks.push(String(chunk)), done()) });
  return Object.assign(stream, { text: () => chunks.join('') });
}

function run(config: Partial<RunConfig> & { scenarioFile: string }, env: Record<string, string> = {}) {
  Object.assign(process.env, { KEEL_LOAD_TEST_TARGET: target, ...env });
  return runLoad({ workers: 0, output: sink(), progress: false, ...config });
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'keel-load-test-'));
  server = createServer((_request, response) => response.end('ok'));
  server.maxConnections = 20_000;
  await new Promise<void>((resolve) => server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, resolve));
  const address = server.address() as { port: number };
  target = `http://127.0.0.1:${address.port}/`;
});

after(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

test('a TypeScript scenario runs: checks, groups, per-VU state, a passing run exits 0 with JSON and NDJSON outputs', async () => {
  const summaryFile = join(dir, 'summary.json');
  const ndjson = join(dir, 'series.ndjson');
  const result = await run({ scenarioFile: join(fixtures, 'checks.ts'), summaryExport: summaryFile, ndjson }, { KEEL_LOAD_TEST_ITERATIONS: '20' });
  assert.equal(result.exitCode, 0);
  assert.equal(result.summary.counters.iterations?.count, 20);
  assert.equal(result.summary.counters.http_reqs?.count, 20);
  assert.deepEqual(result.summary.checks['::home::status is 200'], { passes: 20, fails: 0 });
  assert.equal(result.summary.rates.http_req_failed?.trues, 0);
  const exported = JSON.parse(readFileSync(summaryFile, 'utf8')) as { passed: boolean };
  assert.equal(exported.passed, true);
  const lines = readFileSync(ndjson, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as { type: string });
  assert.equal(lines.at(-1)!.type, 'summary');
  assert.ok(lines.some((line) => line.type === 'point'));
});

test('a failed threshold exits 99', async () => {
  const result = await run({ scenarioFile: join(fixtures, 'checks.ts') }, { KEEL_LOAD_TEST_ITERATIONS: '5', KEEL_LOAD_TEST_P99_BOUND: '0' });
  assert.equal(result.exitCode, 99);
  assert.equal(result.summary.thresholds[0]!.ok, false);
});

test('a refusing target gives counted errors and a summary, not a crash', async () => {
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const port = (closed.address() as { port: number }).port;
  await new Promise((resolve) => closed.close(resolve));
  const result = await run({ scenarioFile: join(fixtures, 'checks.ts') }, { KEEL_LOAD_TEST_ITERATIONS: '6', KEEL_LOAD_TEST_TARGET: `http://127.0.0.1:${port}/` });
  assert.equal(result.exitCode, 99, 'the checks threshold fails');
  assert.equal(result.summary.rates.http_req_failed?.trues, 6);
  assert.equal(result.summary.errors.ECONNREFUSED, 6);
});

test('a target outside loopback is refused unless named with --allow-remote', async () => {
  const result = await run({ scenarioFile: join(fixtures, 'remote.ts') });
  const refused = Object.entries(result.summary.errors).find(([kind]) => kind.startsWith('exception KEEL_LOAD_TARGET_REFUSED: target 192.0.2.1:8080 is not on loopback'));
  assert.equal(refused?.[1], 3, JSON.stringify(result.summary.errors));
  assert.equal(result.summary.counters.http_reqs, undefined, 'no request was sent');
});

test('a YAML scenario runs its requests and checks', async () => {
  const file = join(dir, 'simple.yaml');
  writeFileSync(file, `options:\n  iterations: 10\n  vus: 2\n  thresholds:\n    checks: ['rate>0.99']\nrequests:\n  - url: ${target}\n    name: home\n    checks:\n      status: 200\n      bodyIncludes: ok\n`);
  const result = await run({ scenarioFile: file });
  assert.equal(result.exitCode, 0);
  assert.equal(result.summary.counters.http_reqs?.count, 10);
  assert.equal(result.summary.rates.checks?.trues, 20);
});

test('a scenario file with errors gives messages naming the line and field (exit code 2 in the CLI)', async () => {
  await assert.rejects(run({ scenarioFile: join(fixtures, 'bad.yaml') }), (error: { code: string; message: string }) => {
    assert.equal(error.code, 'KEEL_LOAD_BAD_INPUT');
    assert.match(error.message, /line 3: options\.duration: a duration/);
    assert.match(error.message, /line 6: requests\.0\.method/);
    return true;
  });
  const broken = join(dir, 'broken.yaml');
  writeFileSync(broken, 'options:\n  vus: [1,\n');
  await assert.rejects(run({ scenarioFile: broken }), /broken\.yaml: line \d+/);
  const badOptions = join(dir, 'bad-options.mjs');
  writeFileSync(badOptions, "export const options = { scenarios: { a: { executor: 'constant-vus', vus: 0, duration: '1s' } } };\nexport default async function () {}\n");
  await assert.rejects(run({ scenarioFile: badOptions }), /options\.scenarios\.a\.vus/);
  await assert.rejects(run({ scenarioFile: join(dir, 'missing.ts') }), /KEEL_LOAD|no such file|cannot/);
});

test('5,000 VUs, each with its own keep-alive connection, over 2 worker processes, bounded', { timeout: 120_000 }, async () => {
  const connections = new Set<unknown>();
  const onConnection = (socket: unknown): void => void connections.add(socket);
  server.on('connection', onConnection);
  try {
    const result = await run({ scenarioFile: join(fixtures, 'many-vus.ts'), workers: 2 }, { KEEL_LOAD_TEST_VUS: '5000' });
    assert.deepEqual(result.summary.lostWorkers, []);
    assert.equal(result.summary.gauges.vus_max?.max, 5000);
    const requests = result.summary.counters.http_reqs?.count ?? 0;
    const failed = result.summary.rates.http_req_failed?.trues ?? 0;
    // A loaded CI box may reset or time out a connection or two (a full accept queue); more is a bug.
    assert.ok(failed <= requests / 100, `failed ${failed} of ${requests}: ${JSON.stringify(result.summary.errors)}`);
    assert.equal(requests, 5000, 'one request per VU, bounded by maxDuration');
    assert.ok(connections.size >= 5000 - failed && connections.size <= 5000 + failed, `connections: ${connections.size} (one per VU)`);
  } finally {
    server.off('connection', onConnection);
  }
});

test('a worker process that crashes is reported lost with its reason, and the run still ends with a summary', { timeout: 60_000 }, async () => {
  const scenario = join(dir, 'crash.mjs');
  // A throw from a timer escapes the iteration: only the process-level handler sees it.
  writeFileSync(scenario, "export const options = { scenarios: { once: { executor: 'per-vu-iterations', vus: 1, iterations: 1, maxDuration: '20s' } } };\nexport default async function (vu) { setTimeout(() => { throw new Error('boom from a timer'); }, 10); await vu.sleep(5); }\n");
  const result = await run({ scenarioFile: scenario, workers: 1 });
  assert.equal(result.summary.lostWorkers.length, 1);
  assert.match(result.summary.lostWorkers[0]!, /worker 1 crashed: Error: boom from a timer/);
  assert.notEqual(result.exitCode, 0);
});

test('--metrics-port serves live metrics for Prometheus while the run goes', { timeout: 120_000 }, async () => {
  const { freeLoopbackPorts } = await import('../../bench/lib/net.js');
  const [port] = (await freeLoopbackPorts(1)) as [number];
  const scenario = join(dir, 'metrics.mjs');
  writeFileSync(scenario, `export const options = { vus: 2, duration: '30s' };\nexport default async function (vu) { await vu.http.get('${target}'); await vu.sleep(0.05); }\n`);
  const stop = new AbortController();
  const running = run({ scenarioFile: scenario, metricsPort: port, signal: stop.signal });
  let text = '';
  try {
    const deadline = Date.now() + 60_000;
    while (!/keel_load_http_requests_total [1-9]/.test(text)) {
      assert.ok(Date.now() < deadline, `no live requests in /metrics: ${text}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
      text = await fetch(`http://127.0.0.1:${port}/metrics`).then((response) => response.text(), () => '');
    }
  } finally {
    stop.abort();
  }
  const result = await running;
  assert.equal(result.summary.interrupted, true);
  assert.match(text, /keel_load_vus 2/);
  assert.match(text, /keel_load_http_request_duration_seconds\{quantile="0.99"\}/);
});
