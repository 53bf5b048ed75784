import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freeKeelUpBase, freeLoopbackPorts } from '../../bench/lib/net.js';
import { findObserveBinaries } from '../../src/observe/stack/index.js';
import { processExists as alive } from '../../src/chaos/process-identity.js';

/**
 * Alerts end to end, every part real: `keel up --observe` (one member, its
 * gateway, Prometheus and Alertmanager at 1 s scrape and evaluation), a
 * second `keel gateway` in front of an HTTP backend this test controls, an
 * OpenSLO file on that gateway's success ratio with its windows shrunk by
 * --slo-time-scale, and this test's own webhook receiving Alertmanager's
 * notifications. The backend turns to 500s: the SLO's page must reach the
 * webhook; it heals: the resolved notification must follow.
 */
const bin = join(import.meta.dirname, '../../dist/src/cli/main.js');
/** Every window divided by this: the page's 1h/5m and 6h/30m become 30s/2.5s and 3m/15s. */
const TIME_SCALE = 120;
const SLO_NAME = 'app-availability';
const WAIT_MS = 120_000;
const POLL_MS = 200;
/** Requests the traffic loop sends at most (about 40 a second for the test's life). */
const REQUESTS_MAX = 20_000;

const SLO_FILE = `
apiVersion: openslo/v1
kind: SLO
metadata:
  name: ${SLO_NAME}
  annotations:
    keel.dev/min-events: "5"
spec:
  description: 99% of the app's requests through its gateway succeed
  service: app
  indicator:
    metadata: { name: app-errors }
    spec:
      ratioMetric:
        counter: true
        bad:
          metricSource: { type: keel, spec: { metric: gateway-errors, labels: { job: app } } }
        total:
          metricSource: { type: keel, spec: { metric: gateway-requests, labels: { job: app } } }
  timeWindow:
    - duration: 30d
      isRolling: true
  budgetingMethod: Occurrences
  objectives:
    - target: 0.99
  alertPolicies:
    - kind: AlertPolicy
      metadata: { name: app-burn }
      spec:
        conditions:
          - kind: AlertCondition
            metadata: { name: fast-burn }
            spec:
              severity: page
              condition: { kind: burnrate, op: gt, threshold: 14.4, lookbackWindow: 1h }
          - kind: AlertCondition
            metadata: { name: medium-burn }
            spec:
              severity: page
              condition: { kind: burnrate, op: gt, threshold: 6, lookbackWindow: 6h }
`;

interface Notification {
  status: string;
  alerts: { status: string; labels: Record<string, string> }[];
}

async function until<T>(what: string, check: () => Promise<T | undefined> | T | undefined, detail: () => string = () => ''): Promise<T> {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) assert.fail(`timed out after ${WAIT_MS / 1000} s waiting for ${what}${detail() ? `\n${detail()}` : ''}`);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

function listen(server: Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
}

/** Spawns a keel command from dist/, its output collected; stopped (SIGTERM, then SIGKILL) after the test. */
function keel(t: TestContext, args: string[]): { child: ChildProcess; output: () => string; exited: Promise<unknown> } {
  const child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = once(child, 'exit');
  t.after(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    await exited;
    clearTimeout(killer);
  });
  return { child, output: () => output, exited };
}

test('keel up --observe: an SLO page reaches the webhook when the backend fails, and a resolved notification when it heals', { timeout: 240_000 }, async (t) => {
  try {
    findObserveBinaries();
  } catch (error) {
    return t.skip((error as Error).message);
  }
  const dir = mkdtempSync(join(tmpdir(), 'keel-alerts-e2e-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const base = await freeKeelUpBase(1);
  const [gatewayPort, adminPort, prometheusPort, alertmanagerPort, appPort, appAdminPort, backendPort, hookPort] = (await freeLoopbackPorts(8)) as [number, number, number, number, number, number, number, number];

  // The backend: 200 or 500 as the test says.
  let failing = false;
  const backend = createServer((request, response) => {
    request.resume();
    response.writeHead(failing ? 500 : 200, { 'content-type': 'text/plain' });
    response.end(failing ? 'failing\n' : 'ok\n');
  });
  await listen(backend, backendPort);
  t.after(() => backend.close());

  // The webhook: every notification Alertmanager posts, in order.
  const notifications: Notification[] = [];
  const hook = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      notifications.push(JSON.parse(Buffer.concat(chunks).toString('utf8')) as Notification);
      response.end();
    });
  });
  await listen(hook, hookPort);
  t.after(() => hook.close());

  const gatewayFile = join(dir, 'app-gateway.yaml');
  writeFileSync(gatewayFile, [
    `listeners: [{ port: ${appPort} }]`,
    `admin: { port: ${appAdminPort} }`,
    'routes: [{ name: app, match: { prefix: / }, cluster: app }]',
    `clusters: { app: { endpoints: [{ address: "127.0.0.1:${backendPort}" }] } }`,
    '',
  ].join('\n'));
  const appGateway = keel(t, ['gateway', '--config', gatewayFile]);
  const sloFile = join(dir, 'slo.yaml');
  writeFileSync(sloFile, SLO_FILE);
  const dataDir = join(dir, 'keel');
  const up = keel(t, [
    'up', '--nodes', '1', '--base-port', String(base), '--data-dir', dataDir, '--gateway-port', String(gatewayPort), '--admin-port', String(adminPort),
    '--observe', '--prometheus-port', String(prometheusPort), '--alertmanager-port', String(alertmanagerPort),
    '--observe-target', `app=127.0.0.1:${appAdminPort}`, '--alert-webhook', `http://127.0.0.1:${hookPort}/hook`,
    '--slo', sloFile, '--slo-time-scale', String(TIME_SCALE),
    '--scrape-interval', '1s', '--evaluation-interval', '1s', '--alert-group-wait', '1s', '--alert-group-interval', '1s', '--alert-repeat-interval', '1h',
  ]);
  const diagnostics = (): string => `keel up said:\n${up.output()}\napp gateway said:\n${appGateway.output()}\nnotifications: ${JSON.stringify(notifications)}`;

  // If keel up is killed rather than stopped, its Prometheus and Alertmanager must not outlive the test.
  interface ClusterFile { observe?: { prometheusUrl: string; prometheus: { pid: number | null }; alertmanager: { pid: number | null } } }
  const observed = await until('cluster.json to name Prometheus and Alertmanager', () => {
    try {
      const cluster = JSON.parse(readFileSync(join(dataDir, 'cluster.json'), 'utf8')) as ClusterFile;
      return cluster.observe?.prometheus.pid && cluster.observe.alertmanager.pid ? cluster.observe : undefined;
    } catch {
      return undefined;
    }
  }, diagnostics);
  const stackPids = [observed.prometheus.pid!, observed.alertmanager.pid!];
  t.after(() => {
    for (const pid of stackPids) if (alive(pid)) process.kill(pid, 'SIGKILL');
  });
  assert.equal(observed.prometheusUrl, `http://127.0.0.1:${prometheusPort}`);

  // Steady traffic through the app's gateway, one request at a time, until the test ends.
  let sending = true;
  const traffic = (async () => {
    for (let sent = 0; sending && sent < REQUESTS_MAX; sent++) {
      await fetch(`http://127.0.0.1:${appPort}/`, { signal: AbortSignal.timeout(2_000) }).then((response) => response.body?.cancel(), () => undefined);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  })();
  t.after(async () => {
    sending = false;
    await traffic;
  });

  // Prometheus scrapes the app's gateway and evaluates the generated SLO rules.
  const query = async (promql: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]> => {
    const response = await fetch(`${observed.prometheusUrl}/api/v1/query?query=${encodeURIComponent(promql)}`, { signal: AbortSignal.timeout(5_000) });
    return ((await response.json()) as { data: { result: { metric: Record<string, string>; value: [number, string] }[] } }).data.result;
  };
  // (The SLO's error ratio itself has no sample yet: prom-client exports the 5xx series only after a first 5xx.)
  await until('Prometheus to scrape the app gateway\'s requests', async () => {
    const result = await query('sum(rate(keel_gateway_requests_total{job="app", code_class="2xx"}[5s])) > 0').catch(() => []);
    return result.length > 0 ? result : undefined;
  }, diagnostics);
  const pageOf = (notification: Notification) => notification.alerts.find((alert) => alert.labels.sloth_slo === SLO_NAME && alert.labels.severity === 'page');
  assert.equal(notifications.find(pageOf), undefined, 'no page while the backend is healthy');

  failing = true;
  await until('the SLO\'s error ratio to be recorded', async () => {
    const result = await query(`slo:sli_error:ratio_rate5m{sloth_slo="${SLO_NAME}"} > 0`).catch(() => []);
    return result.length > 0 ? result : undefined;
  }, diagnostics);
  const firing = await until('the SLO\'s page to reach the webhook', () => {
    const notification = notifications.find((candidate) => pageOf(candidate)?.status === 'firing');
    return notification ? pageOf(notification) : undefined;
  }, diagnostics);
  assert.equal(firing.labels.severity, 'page');
  assert.equal(firing.labels.sloth_slo, SLO_NAME);
  assert.equal(firing.labels.sloth_service, 'app');
  assert.ok(firing.labels.alertname, 'the page has an alertname');

  failing = false;
  const resolved = await until('a resolved notification for the page', () => {
    const notification = notifications.find((candidate) => pageOf(candidate)?.status === 'resolved');
    return notification ? pageOf(notification) : undefined;
  }, diagnostics);
  assert.equal(resolved.labels.alertname, firing.labels.alertname);

  // Stopped with the cluster: Prometheus and Alertmanager exit when keel up does.
  sending = false;
  up.child.kill('SIGTERM');
  await up.exited;
  assert.equal(up.child.exitCode, 0, diagnostics());
  await until('Prometheus and Alertmanager to have exited', () => (stackPids.some(alive) ? undefined : true));
});
