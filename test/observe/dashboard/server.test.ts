import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { freeLoopbackPorts } from '../../../bench/lib/net.js';
import { FixedTargets, startDashboard, type DashboardState, type SloSource } from '../../../src/observe/dashboard/index.js';
import { eventually } from '../../node/cluster-harness.js';

/**
 * The dashboard server over real sockets. Prometheus, Alertmanager and a
 * keel load run are stand-ins here (small HTTP servers answering their
 * documented JSON and text shapes): running the real ones is the alerts
 * branch's `keel up --observe`. Members are real in dashboard-browser.test.ts;
 * here the one member listed has nothing listening, as when it is down.
 */

const PROMETHEUS_ALERTS = {
  status: 'success',
  data: { alerts: [
    { labels: { alertname: 'KeelNoLeader', severity: 'critical' }, annotations: { summary: 'n2 has no leader' }, state: 'firing', activeAt: '2026-12-04T18:00:00Z' },
    { labels: { alertname: 'KeelHighFsyncDuration', severity: 'warning' }, annotations: {}, state: 'pending' },
  ] },
};

const LOAD_METRICS = ['keel_load_http_requests_total 1000', 'keel_load_http_requests_failed_total 5', 'keel_load_vus 20', 'keel_load_http_request_duration_seconds{quantile="0.99"} 0.012', 'keel_load_dropped_iterations_total 3'].join('\n');

function serve(port: number, answer: (path: string) => { status: number; body: string }): Promise<Server> {
  const server = createServer((request, response) => {
    const { status, body } = answer(request.url ?? '/');
    response.writeHead(status, { 'content-type': 'application/json' }).end(body);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

function close(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

const slo: SloSource = {
  evaluate: () => Promise.resolve([{ name: 'store-availability', objective: 0.999, budgetRemaining: 0.42, burnRates: [{ window: '5m', burnRate: 14.4 }, { window: '1h', burnRate: 2 }], alerting: true }]),
};

test('the server: page and assets under a self-only CSP, live state over SSE, alerts and load from their sources, sources that go away and come back', { timeout: 60_000 }, async () => {
  const [dashboardPort, memberPort, prometheusPort, alertmanagerPort, loadPort] = (await freeLoopbackPorts(5)) as [number, number, number, number, number];
  let prometheus = await serve(prometheusPort, (path) => (path === '/api/v1/alerts' ? { status: 200, body: JSON.stringify(PROMETHEUS_ALERTS) } : { status: 404, body: '' }));
  const alertmanager = await serve(alertmanagerPort, () => ({ status: 200, body: '{"not":"a list"}' }));
  const load = await serve(loadPort, () => ({ status: 200, body: LOAD_METRICS }));
  const dashboard = await startDashboard({
    targets: new FixedTargets({ members: [{ name: 'n1', url: `http://127.0.0.1:${memberPort}`, zone: 'a' }] }),
    port: dashboardPort,
    intervalMs: 200,
    prometheusUrl: `http://127.0.0.1:${prometheusPort}`,
    alertmanagerUrl: `http://127.0.0.1:${alertmanagerPort}`,
    loadMetricsUrl: `http://127.0.0.1:${loadPort}/metrics`,
    slo,
  });
  const streamAbort = new AbortController();
  try {
    const page = await fetch(dashboard.url);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-security-policy') ?? '', /default-src 'none'; script-src 'self'/);
    const html = await page.text();
    assert.ok(!/(src|href)="https?:/i.test(html), 'no asset from elsewhere');
    assert.match(await (await fetch(`${dashboard.url}/app.js`)).text(), /new EventSource\('\/events'\)/);
    assert.equal((await fetch(`${dashboard.url}/app.css`)).headers.get('content-type'), 'text/css; charset=utf-8');
    assert.equal((await fetch(`${dashboard.url}/nothing`)).status, 404);
    assert.equal((await fetch(dashboard.url, { method: 'POST' })).status, 405);

    // The live stream: history first, then a state per poll.
    const stream = await fetch(`${dashboard.url}/events`, { signal: streamAbort.signal });
    assert.equal(stream.headers.get('content-type'), 'text/event-stream');
    const reader = stream.body!.getReader();
    let text = '';
    for (let reads = 0; reads < 100 && !/event: state\ndata: /.test(text); reads++) text += new TextDecoder().decode((await reader.read()).value);
    assert.match(text, /^retry: 2000\nevent: history\ndata: \[/);
    const streamed = JSON.parse(/event: state\ndata: (.*)\n/.exec(text)![1]!) as DashboardState;
    assert.equal(streamed.cluster.members[0]!.name, 'n1');

    await eventually(() => (dashboard.state?.load.requests ?? 0) === 1000 && dashboard.state?.alerts.alerts.length === 2, 30_000, 'alerts and load figures');
    const state = dashboard.state!;
    const member = state.cluster.members[0]!;
    assert.equal(member.health, 'down');
    assert.match(member.reason ?? '', /connection refused/);
    assert.equal(state.cluster.leader, undefined);
    assert.deepEqual(state.alerts.alerts.map((alert) => [alert.name, alert.state, alert.severity]), [['KeelNoLeader', 'firing', 'critical'], ['KeelHighFsyncDuration', 'pending', 'warning']]);
    assert.match(state.alerts.errors.join(), /alertmanager .* is not a list of alerts \(is this Alertmanager\?\)/, 'a source of the wrong shape is named, not fatal');
    assert.deepEqual({ running: state.load.running, vus: state.load.vus, p99Ms: state.load.p99Ms, dropped: state.load.droppedIterations }, { running: true, vus: 20, p99Ms: 12, dropped: 3 });
    assert.deepEqual(state.slo.objectives.map((objective) => [objective.name, objective.budgetRemaining, objective.alerting]), [['store-availability', 0.42, true]]);

    // Prometheus goes away: its error shows, the rest keeps polling; it comes back on the same port: its alerts return.
    await close(prometheus);
    await eventually(() => /prometheus .*connection refused/.test(dashboard.state?.alerts.errors.join() ?? ''), 30_000, 'the Prometheus error');
    assert.equal(dashboard.state!.alerts.alerts.length, 0);
    prometheus = await serve(prometheusPort, () => ({ status: 200, body: JSON.stringify(PROMETHEUS_ALERTS) }));
    await eventually(() => dashboard.state?.alerts.alerts.length === 2 && !/prometheus/.test(dashboard.state.alerts.errors.join()), 30_000, 'Prometheus\'s alerts back');
    // A load run that ends is "not running", not an error.
    await close(load);
    await eventually(() => dashboard.state?.load.running === false, 30_000, 'the load run gone');

    const history = (await (await fetch(`${dashboard.url}/api/history`)).json()) as unknown[];
    assert.ok(history.length >= 2, `${history.length} chart points kept`);
  } finally {
    streamAbort.abort();
    await dashboard.close();
    await Promise.all([close(prometheus), close(alertmanager), close(load).catch(() => undefined)]);
  }
});

test('--slo: a missing or malformed file is refused naming it; a good one is evaluated by keel/observe\'s SloEvaluator', { timeout: 60_000 }, async () => {
  const [port] = (await freeLoopbackPorts(1)) as [number];
  const targets = new FixedTargets({ members: [{ name: 'n1', url: 'http://127.0.0.1:1' }] });
  const badSlo = (pattern: RegExp) => (error: { code?: string; message: string }) => error.code === 'KEEL_DASH_BAD_SLO' && pattern.test(error.message);
  await assert.rejects(startDashboard({ targets, port, sloFile: '/nonexistent/slo.yaml' }), badSlo(/--slo: \/nonexistent\/slo\.yaml: cannot read/));
  await assert.rejects(startDashboard({ targets, port, sloFile: import.meta.filename }), badSlo(/--slo: .*server\.test\.ts/));
  await assert.rejects(startDashboard({ targets, port, intervalMs: 10 }), /intervalMs: must be an integer in \[200, 60000\]/);
  const dashboard = await startDashboard({ targets, port, sloFile: join(import.meta.dirname, '../../../examples/slo/keel.yaml'), intervalMs: 200 });
  try {
    await eventually(() => dashboard.state !== undefined, 30_000, 'a first poll');
    const slo = dashboard.state!.slo;
    assert.equal(slo.configured, true);
    assert.equal(slo.error, undefined);
    // Nothing answers at 127.0.0.1:1: the objectives are listed, without data yet.
    assert.ok(slo.objectives.length >= 1 && slo.objectives.every((objective) => objective.budgetRemaining === null && objective.objective > 0.9), JSON.stringify(slo));
    // A second dashboard on the same port fails with a clear error instead of crashing.
    await assert.rejects(startDashboard({ targets, port }), (error: { code?: string; message: string }) => error.code === 'KEEL_DASH_LISTEN' && /the port is in use/.test(error.message));
  } finally {
    await dashboard.close();
  }
});
