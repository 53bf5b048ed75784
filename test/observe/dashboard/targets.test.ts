import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClusterFileTargets, parseEndpointList, parseTargetUrl, type DashboardError } from '../../../src/observe/dashboard/index.js';

function codeOf(run: () => unknown): string | undefined {
  try {
    run();
  } catch (error) {
    return (error as DashboardError).code;
  }
  return undefined;
}

test('URLs: host:port becomes http, a trailing slash goes; anything else is refused naming the flag', () => {
  assert.equal(parseTargetUrl('--prometheus', '127.0.0.1:9090'), 'http://127.0.0.1:9090');
  assert.equal(parseTargetUrl('--prometheus', 'http://127.0.0.1:9090/prom/'), 'http://127.0.0.1:9090/prom');
  assert.throws(() => parseTargetUrl('--prometheus', 'ftp://x'), /--prometheus: "ftp:\/\/x" is not an http or https URL/);
  assert.throws(() => parseTargetUrl('--alertmanager', 'http://'), /--alertmanager: .* is not a URL/);
  assert.equal(codeOf(() => parseTargetUrl('--x', 'http://[bad')), 'KEEL_DASH_BAD_INPUT');
  assert.deepEqual(parseEndpointList('n1=127.0.0.1:1,http://127.0.0.1:2'), [{ name: 'n1', url: 'http://127.0.0.1:1' }, { name: 'http://127.0.0.1:2', url: 'http://127.0.0.1:2' }]);
  assert.throws(() => parseEndpointList(' , '), /--endpoints: give at least one/);
});

test('cluster.json: read on every poll, keeping the last good read while it is rewritten; a bad first read names the file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'keel-dash-targets-'));
  try {
    const path = join(dir, 'cluster.json');
    assert.equal(codeOf(() => new ClusterFileTargets(path)), 'KEEL_DASH_NO_TARGETS');
    writeFileSync(path, '{"members": []}');
    assert.throws(() => new ClusterFileTargets(path), /cluster\.json lists no members/);
    writeFileSync(path, JSON.stringify({ members: [{ id: 'n1', zone: 'a', clientUrl: 'ftp://x' }] }));
    assert.throws(() => new ClusterFileTargets(path), /members\[0\]\.clientUrl: "ftp:\/\/x" is not an http or https URL/);
    writeFileSync(path, JSON.stringify({ members: [{ id: 'n1', zone: 'a', clientUrl: 'http://127.0.0.1:2379', pid: 7 }], gateway: { adminUrl: 'http://127.0.0.1:9901' } }));
    const targets = new ClusterFileTargets(path);
    assert.deepEqual(targets.read(), { members: [{ name: 'n1', url: 'http://127.0.0.1:2379', zone: 'a', pid: 7 }], gatewayAdminUrl: 'http://127.0.0.1:9901' });
    writeFileSync(path, '{"members": [');
    assert.equal(targets.read().members[0]!.pid, 7, 'a torn read keeps the last targets');
    writeFileSync(path, JSON.stringify({ members: [{ id: 'n1', zone: 'a', clientUrl: 'http://127.0.0.1:2379', pid: 8, restarts: 1 }] }));
    assert.equal(targets.read().members[0]!.pid, 8, 'a restarted member\'s new pid');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
