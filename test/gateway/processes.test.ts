import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { Agent } from 'undici';
import { call, load, startGateway } from './helpers.js';

const BACKEND_SOURCE = `
const http = require('node:http');
const server = http.createServer((req, res) => { req.resume(); req.on('end', () => res.end(process.env.NAME)); });
server.listen(0, '127.0.0.1', () => console.log(server.address().port));
`;

async function spawnBackend(name: string): Promise<{ child: ChildProcess; address: string }> {
  const child = spawn(process.execPath, ['-e', BACKEND_SOURCE], { env: { ...process.env, NAME: name }, stdio: ['ignore', 'pipe', 'inherit'] });
  const [chunk] = (await once(child.stdout!, 'data')) as [Buffer];
  return { child, address: `127.0.0.1:${chunk.toString().trim()}` };
}

test('backend processes killed by PID mid-load cost no failed request', async (t) => {
  const backends = await Promise.all(['p1', 'p2', 'p3'].map(spawnBackend));
  const gateway = await startGateway({
    routes: [{ name: 'all', cluster: 'app', retry: { maxAttempts: 3 } }],
    clusters: { app: { endpoints: backends.map((b) => ({ address: b.address })), balancer: 'least-request', outlierDetection: { consecutiveGatewayErrors: 1, maxEjectionPercent: 50 } } },
  });
  const agent = new Agent();
  t.after(async () => {
    await agent.close();
    await gateway.close();
    for (const backend of backends) if (backend.child.exitCode === null && backend.child.signalCode === null) backend.child.kill('SIGKILL');
  });
  const failures: string[] = [];
  const served = new Map<string, number>();
  await load(400, 8, async (index) => {
    if (index === 150) {
      const victim = backends[0]!.child;
      process.kill(victim.pid!, 'SIGKILL');
      await once(victim, 'exit');
    }
    const reply = await call(agent, gateway.ports[0]!, '/', { method: 'GET' });
    if (reply.status !== 200) failures.push(`${reply.status} ${reply.body}`);
    else served.set(reply.body, (served.get(reply.body) ?? 0) + 1);
  });
  assert.deepEqual(failures, []);
  assert.ok((served.get('p2') ?? 0) + (served.get('p3') ?? 0) >= 250);
});
