import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freeLoopbackPorts } from '../../../bench/lib/net.js';
import { startAlertReceiver } from '../../../src/observe/stack/index.js';

// keel up's built-in receiver over a real socket; the test posts what Alertmanager's webhook would (version 4 payload).
test('the built-in alert receiver records each notification in alerts.jsonl, logs it, and refuses bad posts clearly', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'keel-receiver-'));
  const [port] = (await freeLoopbackPorts(1)) as [number];
  const lines: string[] = [];
  const file = join(dir, 'alerts.jsonl');
  const server = await startAlertReceiver({ host: '127.0.0.1', port, file, log: (line) => lines.push(line) });
  t.after(() => {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const url = `http://127.0.0.1:${port}/alerts`;
  const notification = {
    version: '4', status: 'firing', receiver: 'keel-webhook', groupLabels: { alertname: 'KeelNoLeader' },
    alerts: [{ status: 'firing', labels: { alertname: 'KeelNoLeader', severity: 'critical', instance: 'n1' }, annotations: { summary: 'no leader' } }],
  };
  const posted = await fetch(url, { method: 'POST', body: JSON.stringify(notification) });
  assert.equal(posted.status, 200);
  const recorded = readFileSync(file, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as typeof notification & { receivedAt: string });
  assert.equal(recorded.length, 1);
  assert.deepEqual(recorded[0]!.alerts, notification.alerts);
  assert.ok(!Number.isNaN(Date.parse(recorded[0]!.receivedAt)));
  assert.deepEqual(lines, ['alert firing: KeelNoLeader{severity=critical,instance=n1} firing']);

  const refused = async (init: RequestInit, path = '/alerts'): Promise<[number, string]> => {
    const response = await fetch(`http://127.0.0.1:${port}${path}`, init);
    return [response.status, await response.text()];
  };
  assert.deepEqual(await refused({ method: 'POST', body: 'not json' }), [400, 'the body is not JSON\n']);
  assert.deepEqual(await refused({ method: 'POST', body: JSON.stringify({ status: 'firing', alerts: [{}] }) }), [400, 'alerts[0].labels: must be an object\n']);
  assert.deepEqual(await refused({ method: 'POST', body: JSON.stringify({ alerts: [] }) }), [400, 'status: must be a string\n']);
  assert.equal((await refused({ method: 'GET' }))[0], 405);
  assert.equal((await refused({ method: 'POST', body: '{}' }, '/other'))[0], 404);
  assert.equal((await refused({ method: 'POST', body: 'x'.repeat(1_048_577) }))[0], 413);
  assert.equal(readFileSync(file, 'utf8').trim().split('\n').length, 1, 'nothing refused was recorded');
});
