import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent } from 'undici';
import { freeLoopbackPorts } from '../../bench/lib/net.js';
import { call, closeAll, startBackend } from './helpers.js';

const yaml = (port: number, admin: number, backend: string) => `
listeners: [{ port: ${port} }]
admin: { port: ${admin} }
routes: [{ name: all, match: { prefix: / }, cluster: app }]
clusters: { app: { endpoints: [{ address: "${backend}" }] } }
`;

test('keel gateway process: --watch and SIGHUP reload, a bad file is refused, SIGTERM drains in-flight requests', async (t) => {
  let release: (() => void) | undefined;
  const first = await startBackend('first', (request, response, backend) => {
    request.resume();
    if (request.url === '/slow') release = () => response.end('slow-done');
    else response.end(backend.name);
  });
  const second = await startBackend('second');
  const [port, admin] = (await freeLoopbackPorts(2)) as [number, number];
  const file = join(mkdtempSync(join(tmpdir(), 'keel-gw-cli-')), 'gw.yaml');
  writeFileSync(file, yaml(port, admin, first.address));
  const main = new URL('../../src/cli/main.ts', import.meta.url).pathname;
  const child = spawn(process.execPath, ['--import', 'tsx', main, 'gateway', '--config', file, '--log-level', 'info', '--watch'], { stdio: ['ignore', 'ignore', 'pipe'] });
  const agent = new Agent();
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    release?.();
    await closeAll(agent, first, second);
  });
  let output = '';
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const waitFor = async (text: string, times = 1) => {
    while (output.split(text).length - 1 < times) await once(child.stderr!, 'data');
  };
  await waitFor('gateway listening');
  assert.equal((await call(agent, port, '/')).body, 'first');

  writeFileSync(file, yaml(port, admin, second.address));
  await waitFor('config reloaded'); // --watch: no signal needed
  assert.equal((await call(agent, port, '/')).body, 'second');

  writeFileSync(file, 'listeners: [');
  child.kill('SIGHUP');
  await waitFor('config reload failed'); // logged once, by the gateway, with its code
  const refusal = output.split('\n').find((line) => line.includes('config reload failed'))!;
  assert.match(refusal, /"code":"KEEL_GW_CONFIG_/);
  assert.ok(!refusal.includes('"stack"'), 'an expected error is logged without a stack');
  assert.equal((await call(agent, port, '/')).body, 'second', 'the running config stays');

  writeFileSync(file, yaml(port, admin, first.address));
  child.kill('SIGHUP');
  await waitFor('config reloaded', 2);
  const slow = call(agent, port, '/slow');
  while (release === undefined) await new Promise((resolve) => setTimeout(resolve, 5));
  child.kill('SIGTERM');
  await waitFor('draining');
  assert.equal(child.exitCode, null, 'waits for the in-flight request');
  release();
  assert.equal((await slow).body, 'slow-done');
  const [code] = (await once(child, 'exit')) as [number];
  assert.equal(code, 0);
});
