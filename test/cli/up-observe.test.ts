import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freeKeelUpBase, freeLoopbackPorts } from '../../bench/lib/net.js';
import { findObserveBinaries, ObserveStackError, parsePromDuration } from '../../src/observe/stack/index.js';
import { observeOptionsWithoutObserve, observePorts, planObserve, type ObserveFlags } from '../../src/cli/up-observe.js';

// keel up --observe refuses bad input before it starts anything, with a message naming the problem.
const bin = join(import.meta.dirname, '../../dist/src/cli/main.js');

async function upFails(args: string[]): Promise<{ code: number | null; output: string; dataDir: string }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'keel-up-observe-'));
  const child = spawn(process.execPath, [bin, 'up', '--data-dir', dataDir, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  // Bounded: a keel up that wrongly started would run until killed; the kill turns that into a failed assertion.
  const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(killer);
  return { code, output, dataDir };
}

function hold(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

test('keel up --observe with its Prometheus port taken exits 1 naming the port and its holder, starting nothing', { timeout: 60_000 }, async (t) => {
  try {
    findObserveBinaries();
  } catch (error) {
    return t.skip((error as Error).message);
  }
  const base = await freeKeelUpBase(1);
  const [gatewayPort, adminPort, prometheusPort, alertmanagerPort, receiverPort] = (await freeLoopbackPorts(5)) as [number, number, number, number, number];
  const taken = await hold(prometheusPort);
  t.after(() => taken.close());
  const busy = await upFails([
    '--nodes', '1', '--base-port', String(base), '--gateway-port', String(gatewayPort), '--admin-port', String(adminPort),
    '--observe', '--prometheus-port', String(prometheusPort), '--alertmanager-port', String(alertmanagerPort), '--alert-receiver-port', String(receiverPort),
  ]);
  t.after(() => rmSync(busy.dataDir, { recursive: true, force: true }));
  assert.equal(busy.code, 1, busy.output);
  assert.match(busy.output, new RegExp(`port ${prometheusPort} \\(prometheus\\) is in use by pid ${process.pid}`));
  assert.match(busy.output, /--prometheus-port, --alertmanager-port, --alert-receiver-port/);
  assert.ok(!existsSync(join(busy.dataDir, 'cluster.json')), 'no cluster was started');
});

const flags = (overrides: Partial<ObserveFlags>): ObserveFlags => ({
  observe: true, observeTarget: [], sloTimeScale: 1, prometheusPort: 9090, alertmanagerPort: 9093, alertReceiverPort: 9095,
  scrapeInterval: parsePromDuration('x', '15s'), evaluationInterval: parsePromDuration('x', '15s'), alertGroupWait: parsePromDuration('x', '30s'),
  alertGroupInterval: parsePromDuration('x', '5m'), alertRepeatInterval: parsePromDuration('x', '4h'), alertResolveTimeout: parsePromDuration('x', '5m'),
  ...overrides,
});

test('--observe plans keel\'s alerts and the SLO rules (the shipped SLO file by default); a bad SLO file is named with its field', (t) => {
  try {
    findObserveBinaries();
  } catch (error) {
    return t.skip((error as Error).message);
  }
  const plan = planObserve(flags({}));
  assert.deepEqual(plan.ruleFiles.map((file) => file.name), ['keel-alerts.yaml', 'slo.yaml']);
  assert.match(plan.ruleFiles[0]!.text, /alert: KeelGatewayHighUnavailable/);
  assert.match(plan.ruleFiles[1]!.text, /sloth_slo: kv-availability/, 'the shipped examples/slo/keel.yaml');

  const sloFile = join(tmpdir(), `keel-bad-slo-${process.pid}.yaml`);
  writeFileSync(sloFile, 'apiVersion: openslo/v1\nkind: SLO\nmetadata: { name: x }\nspec:\n  service: s\n  indicatorRef: nowhere\n  timeWindow: [{ duration: 30d, isRolling: true }]\n  budgetingMethod: Occurrences\n  objectives: [{ target: 1.5 }]\n');
  t.after(() => rmSync(sloFile, { force: true }));
  assert.throws(() => planObserve(flags({ slo: sloFile })), (error: unknown) => {
    assert.ok(ObserveStackError.is(error));
    assert.equal(error.code, 'KEEL_OBSERVE_STACK_BAD_INPUT');
    assert.ok(error.message.startsWith(`--slo: ${sloFile}: document 1 (SLO x)`), error.message);
    return true;
  });
});

test('observe options without --observe are named', () => {
  assert.deepEqual(observeOptionsWithoutObserve(flags({ observe: false, alertWebhook: 'http://127.0.0.1:1/', slo: 'x.yaml' })), ['--slo', '--alert-webhook']);
  assert.deepEqual(observeOptionsWithoutObserve(flags({ observe: true, alertWebhook: 'http://127.0.0.1:1/' })), []);
  assert.deepEqual(observePorts(flags({ alertWebhook: 'http://127.0.0.1:1/' })).map((port) => port.purpose), ['prometheus', 'alertmanager']);
});
