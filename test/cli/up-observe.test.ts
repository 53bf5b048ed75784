import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freeKeelUpBase, freeLoopbackPorts } from '../../bench/lib/net.js';
import { findObserveBinaries, ObserveStackError, parsePromDuration } from '../../src/observe/stack/index.js';
import { observeOptionsWithoutObserve, observePorts, planObserve, type ObserveFlags } from '../../src/cli/up-observe.js';

// keel up --observe refuses bad input before it starts anything, with a message naming the problem.
const bin = join(import.meta.dirname, '../../dist/src/cli/main.js');

async function upFails(dataDir: string, args: string[]): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, [bin, 'up', '--data-dir', dataDir, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  // Bounded: a keel up that wrongly started would run until killed; the kill turns that into a failed assertion.
  const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(killer);
  return { code, output };
}


/** Pids of processes whose command line names `path` (read from /proc; a check only, nothing is killed by it). */
function processesMentioning(path: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(path)) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

test('keel up --observe whose Prometheus cannot start stops the whole cluster and exits 1, quoting Prometheus\'s log', { timeout: 60_000 }, async (t) => {
  try {
    findObserveBinaries();
  } catch (error) {
    return t.skip((error as Error).message);
  }
  const base = await freeKeelUpBase(1);
  const [gatewayPort, adminPort, prometheusPort, alertmanagerPort, receiverPort] = (await freeLoopbackPorts(5)) as [number, number, number, number, number];
  const dataDir = mkdtempSync(join(tmpdir(), 'keel-up-observe-'));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  // A real failure: Prometheus's storage path is a file, so it cannot open its TSDB and exits.
  mkdirSync(join(dataDir, 'observe'));
  writeFileSync(join(dataDir, 'observe', 'prometheus-data'), 'not a directory\n');
  const failed = await upFails(dataDir, [
    '--nodes', '1', '--base-port', String(base), '--gateway-port', String(gatewayPort), '--admin-port', String(adminPort),
    '--observe', '--prometheus-port', String(prometheusPort), '--alertmanager-port', String(alertmanagerPort), '--alert-receiver-port', String(receiverPort),
  ]);
  assert.equal(failed.code, 1, failed.output);
  assert.match(failed.output, /keel up: --observe: prometheus exited before it was ready \(log [^)]*prometheus\.log\):/);
  assert.match(failed.output, /stopping the rest rather than run a partial cluster/);
  // Everything it started has exited: the member, the gateway and Alertmanager (their pids from cluster.json).
  const cluster = JSON.parse(readFileSync(join(dataDir, 'cluster.json'), 'utf8')) as { members: { pid: number | null }[]; gateway: { pid: number | null } };
  assert.deepEqual([...cluster.members.map((member) => member.pid), cluster.gateway.pid], [null, null]);
  assert.deepEqual(processesMentioning(dataDir), [], 'no process started for this data dir is left (Alertmanager included)');
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
