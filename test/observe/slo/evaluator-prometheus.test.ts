import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { freeLoopbackPorts } from '../../../bench/lib/net.js';
import { ObserveError, parseSlos, SloEvaluator, type SloStatus } from '../../../src/observe/index.js';
import { memberSlos } from './fixtures.js';

// The Prometheus evaluator against a real /usr/bin/prometheus: the test writes 2h22m of keel-named counters
// (the same story as the scrape test: 2h clean, then 5% errors), backfills them with `promtool tsdb
// create-blocks-from openmetrics` into a temp storage dir, starts Prometheus on it (loopback port, own storage,
// stopped by PID), and evaluates at past instants, so nothing waits on real time passing.

const PROMETHEUS = '/usr/bin/prometheus';
const PROMTOOL = '/usr/bin/promtool';
const MINUTE_S = 60;

/** OpenMetrics text: per minute, two members with 600 calls each, 95% within 100 ms; from minute 120, 60 of A's fail. */
function backfill(startS: number, minutes: number): string {
  const labels = (instance: string): string => `grpc_method="Range",grpc_service="etcdserverpb.KV",grpc_type="unary",instance="${instance}"`;
  const series = new Map<string, string[]>();
  const add = (key: string, value: number, atS: number): void => {
    const lines = series.get(key) ?? [];
    lines.push(`${key} ${value} ${atS}`);
    series.set(key, lines);
  };
  for (const instance of ['a', 'b']) {
    let ok = 0;
    let unavailable = 0;
    for (let m = 0; m <= minutes; m++) {
      const atS = startS + m * MINUTE_S;
      add(`grpc_server_handled_total{grpc_code="OK",${labels(instance)}}`, ok, atS);
      add(`grpc_server_handled_total{grpc_code="Unavailable",${labels(instance)}}`, unavailable, atS);
      add(`grpc_server_handling_seconds_bucket{${labels(instance)},le="0.1"}`, m * 570, atS);
      add(`grpc_server_handling_seconds_count{${labels(instance)}}`, ok + unavailable, atS);
      const errors = instance === 'a' && m >= 120 ? 60 : 0;
      ok += 600 - errors;
      unavailable += errors;
    }
  }
  const families = [['grpc_server_handled', 'counter', 'grpc_server_handled_total'], ['grpc_server_handling_seconds', 'unknown', 'grpc_server_handling_seconds_']] as const;
  const out: string[] = [];
  for (const [family, type, prefix] of families) {
    out.push(`# TYPE ${family} ${type}`);
    for (const [key, lines] of series) if (key.startsWith(prefix)) out.push(...lines);
  }
  return `${out.join('\n')}\n# EOF\n`;
}

async function startPrometheus(storage: string, config: string): Promise<{ child: ChildProcess; url: string; log: () => string }> {
  let lastLog = '';
  for (let attempt = 0; attempt < 3; attempt++) {
    const [port] = await freeLoopbackPorts(1);
    const child = spawn(PROMETHEUS, [
      `--config.file=${config}`, `--storage.tsdb.path=${storage}`, `--web.listen-address=127.0.0.1:${port}`, '--storage.tsdb.retention.time=30d', '--log.level=warn',
    ], { stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    child.stderr!.on('data', (chunk: Buffer) => (log = (log + String(chunk)).slice(-4_000)));
    const url = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 60_000;
    while (child.exitCode === null && Date.now() < deadline) {
      try {
        const response = await request(`${url}/-/ready`, { signal: AbortSignal.timeout(2_000) });
        await response.body.dump();
        if (response.statusCode === 200) return { child, url, log: () => log };
      } catch {
        // not listening yet
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    lastLog = log;
    child.kill('SIGKILL');
    if (!/address already in use/.test(log)) break;
  }
  throw new Error(`prometheus did not become ready: ${lastLog}`);
}

function windowOf(status: SloStatus, window: string) {
  const found = status.windows.find((entry) => entry.window === window);
  assert.ok(found, window);
  return found;
}

function close(actual: number | null, expected: number, tolerance: number, what: string): void {
  assert.ok(actual !== null && Math.abs(actual - expected) <= tolerance, `${what}: ${actual}, expected ${expected} ± ${tolerance}`);
}

test('Prometheus evaluator: burn rates, budget and page state from a real Prometheus match the scrape evaluator\'s numbers', { timeout: 180_000 }, async (context) => {
  if (!existsSync(PROMETHEUS) || !existsSync(PROMTOOL)) return context.skip('prometheus/promtool missing: apt-get install prometheus');
  const directory = mkdtempSync(join(tmpdir(), 'keel-slo-prom-'));
  let prometheus: ChildProcess | undefined;
  try {
    // Four hours ago, on a minute: the data ends 1h38m before now, inside retention, older than any head block.
    const startS = Math.floor((Date.now() / 1000 - 4 * 3600) / MINUTE_S) * MINUTE_S;
    writeFileSync(join(directory, 'data.om'), backfill(startS, 142));
    const created = spawnSync(PROMTOOL, ['tsdb', 'create-blocks-from', 'openmetrics', join(directory, 'data.om'), join(directory, 'storage')], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(created.status, 0, `${created.stdout}${created.stderr}`);
    writeFileSync(join(directory, 'prometheus.yml'), 'global: { scrape_interval: 1m }\n');
    const started = await startPrometheus(join(directory, 'storage'), join(directory, 'prometheus.yml'));
    prometheus = started.child;
    let atMs = (startS + 132 * MINUTE_S) * 1000;
    const evaluator = new SloEvaluator(memberSlos(), { prometheusUrl: started.url, now: () => atMs });

    // 12 minutes into the burn: 5m ratio 5% (burn 50), 1h ratio 720/72000; no page yet (the scrape test's numbers).
    let [availability, latency, minutes] = (await evaluator.evaluate()).slos as [SloStatus, SloStatus, SloStatus];
    close(windowOf(availability, '5m').errorRatio, 0.05, 1e-9, '5m error ratio');
    close(windowOf(availability, '5m').burnRate, 50, 1e-6, '5m burn rate');
    close(windowOf(availability, '1h').errorRatio, (12 * 60) / (60 * 1200), 0.001, '1h error ratio');
    close(windowOf(availability, '5m').events, 5 * 1200, 5 * 1200 * 0.05, '5m events');
    assert.equal(availability.pageFiring, false);
    assert.equal(await evaluator.pageFiring(), false);
    close(windowOf(latency, '1h').errorRatio, 0.05, 1e-9, 'latency error ratio');
    close(windowOf(minutes, '5m').errorRatio, 1, 1e-9, 'timeslices: 5 bad slices of 5');
    close(windowOf(minutes, '1h').errorRatio, 12 / 60, 1.5 / 60, 'timeslices: 12 bad slices of 60');

    atMs = (startS + 142 * MINUTE_S) * 1000;
    [availability] = (await evaluator.evaluate()).slos as [SloStatus];
    assert.equal(availability.pageFiring, true, JSON.stringify(availability.windows));
    assert.equal(await evaluator.pageFiring(), true);
    close(availability.periodErrorRatio, (22 * 60) / (142 * 1200), 0.0005, 'period error ratio');
    assert.ok(availability.budgetRemaining !== null && availability.budgetRemaining < 0, 'budget overspent');

    // A query Prometheus refuses is an error with the query; a Prometheus that is gone is an error with its URL.
    const broken = parseSlos(`apiVersion: openslo/v1
kind: SLO
metadata: { name: broken }
spec:
  service: web
  indicator:
    metadata: { name: broken }
    spec:
      ratioMetric:
        bad: { metricSource: { type: Prometheus, spec: { query: 'sum(rate(bad_total[{{.window}}])' } } }
        total: { metricSource: { type: Prometheus, spec: { query: 'sum(rate(all_total[{{.window}}]))' } } }
  timeWindow: [{ duration: 7d }]
  budgetingMethod: Occurrences
  objectives: [{ target: 0.99 }]
`, 'broken.yaml');
    await assert.rejects(new SloEvaluator(broken, { prometheusUrl: started.url }).evaluate(), (error: unknown) => ObserveError.is(error) && error.code === 'KEEL_OBSERVE_QUERY_FAILED' && error.message.includes('bad_total'));
    prometheus.kill('SIGTERM');
    await new Promise((resolve) => prometheus!.once('exit', resolve));
    prometheus = undefined;
    await assert.rejects(evaluator.evaluate(), (error: unknown) => ObserveError.is(error) && error.code === 'KEEL_OBSERVE_UNREACHABLE' && error.message.includes(started.url));
  } finally {
    if (prometheus !== undefined && prometheus.exitCode === null) {
      prometheus.kill('SIGKILL');
      await new Promise((resolve) => prometheus!.once('exit', resolve));
    }
    rmSync(directory, { recursive: true, force: true });
  }
});
