import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freeLoopbackPorts } from '../../bench/lib/net.js';
import { gatewayConfig, planCluster } from '../../src/cli/up.js';
import { parseGatewayYaml } from '../../src/gateway/config.js';
import { Router } from '../../src/gateway/router.js';
import { seededRandom } from '../../src/resilience/index.js';

const DAY_MS = 86_400_000;

test('keel up\'s gateway gives the JSON gateway\'s streams and waits a day, not the default route\'s 15 s', () => {
  const config = parseGatewayYaml(gatewayConfig(planCluster(3, 2379, '/tmp/x'), 8080, 9901));
  // The admin port stays on loopback; /metrics stays open for --observe's Prometheus should KEEL_GW_ADMIN_TOKEN set a token.
  assert.equal(config.admin?.host, '127.0.0.1');
  assert.equal(config.admin?.openMetrics, true);
  const router = new Router(config, seededRandom(1));
  const route = (path: string, contentType = 'application/json') =>
    router.match({ method: 'POST', host: 'localhost', path, headers: { 'content-type': contentType }, clientIp: '127.0.0.1' });
  for (const path of ['/v3/watch', '/v3/lease/keepalive', '/v3/election/observe', '/v3/election/campaign', '/v3/lock/lock']) {
    const matched = route(path);
    assert.equal(matched?.cluster, 'keel', path);
    assert.ok(matched.route.perTryTimeoutMs >= DAY_MS && matched.route.timeoutMs >= DAY_MS, `${path} gets ${matched.route.perTryTimeoutMs} ms`);
  }
  for (const path of ['/v3/kv/range', '/v3/kv/put', '/v3/watchers', '/v3/lock/unlock']) {
    const matched = route(path);
    assert.equal(matched?.route.name, 'store', path);
    assert.ok(matched.route.perTryTimeoutMs < DAY_MS, `${path} keeps a short timeout`);
  }
  assert.equal(route('/etcdserverpb.Watch/Watch', 'application/grpc')?.cluster, 'keel-grpc');
});

function hold(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

test('a gateway that cannot bind its listener exits non-zero (78) even with a health-checked cluster, naming the address', { timeout: 60_000 }, async () => {
  const [listenPort, adminPort, backendPort] = (await freeLoopbackPorts(3)) as [number, number, number];
  const taken = await hold(listenPort);
  const dir = mkdtempSync(join(tmpdir(), 'keel-gw-bind-'));
  try {
    const file = join(dir, 'gw.yaml');
    writeFileSync(file, [
      `listeners: [{ port: ${listenPort} }]`,
      `admin: { port: ${adminPort} }`,
      'routes: [{ name: all, match: { prefix: / }, cluster: app }]',
      `clusters: { app: { endpoints: [{ address: "127.0.0.1:${backendPort}" }], healthCheck: { path: /healthz, intervalMs: 100 } } }`,
      '',
    ].join('\n'));
    const bin = join(import.meta.dirname, '../../dist/src/cli/main.js');
    const child = spawn(process.execPath, [bin, 'gateway', '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    // Bounded: before the fix the process never exited; the kill turns that into a failed assertion.
    const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    const [code, signal] = (await once(child, 'exit')) as [number | null, string | null];
    clearTimeout(killer);
    assert.equal(signal, null, 'it exited by itself');
    assert.equal(code, 78);
    assert.match(stderr, new RegExp(`keel gateway: 127\\.0\\.0\\.1:${listenPort} is already in use by another process`));
  } finally {
    taken.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
