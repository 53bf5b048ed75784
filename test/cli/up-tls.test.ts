import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { eventually, freePorts } from '../node/cluster-harness.js';
import { freeKeelUpBase } from '../../bench/lib/net.js';

// keel up --tls: a real 1-member cluster behind a throwaway CA, reached the
// way an operator would, with the etcdctl line keel up prints and with
// keel status (which finds the CA and client certificate in the data dir).
const bin = join(import.meta.dirname, '../../dist/src/cli/main.js');
const run = promisify(execFile);

async function exitCode(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [bin, ...args], { timeout: 30_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof failed.code === 'number' ? failed.code : -1, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
}

test('keel up --tls serves etcdctl over mTLS with the printed flags, keel status finds the certificates, cleartext is refused, the gateway speaks mTLS to the member', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'keel-up-tls-'));
  const base = await freeKeelUpBase(1);
  const [gatewayPort, adminPort] = await freePorts(2);
  const child = spawn(process.execPath, [bin, 'up', '--tls', '--nodes', '1', '--base-port', String(base), '--data-dir', dataDir, '--gateway-port', String(gatewayPort), '--admin-port', String(adminPort), '--no-dashboard'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  t.after(async () => {
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    await exited;
    clearTimeout(timer);
    rmSync(dataDir, { recursive: true, force: true });
  });

  await eventually(() => /leader is n1/.test(stdout), 60_000, 'keel up --tls to elect n1');
  const line = /TLS: etcdctl (.*) endpoint status/.exec(stdout);
  assert.ok(line, stdout);
  const flags = line[1]!.split(' ');
  assert.ok(flags.some((flag) => flag.startsWith('--endpoints=https://')), line[1]);
  // Keys are written owner-only.
  assert.equal(statSync(join(dataDir, 'tls', 'client.key')).mode & 0o077, 0);

  const etcdctl = (args: readonly string[]) => run('etcdctl', [...args], { env: { ...process.env, ETCDCTL_API: '3' }, timeout: 20_000 });
  await etcdctl([...flags, 'put', 'tls-key', 'over-mtls']);
  const { stdout: got } = await etcdctl([...flags, 'get', 'tls-key', '--print-value-only']);
  assert.equal(got.trim(), 'over-mtls');

  const status = await exitCode(['status', '--data-dir', dataDir, '-w', 'json']);
  assert.equal(status.code, 0, status.stdout + status.stderr);
  const parsed = JSON.parse(status.stdout) as { leader: string; members: Array<{ endpoint: string }> };
  assert.equal(parsed.leader, 'n1');
  assert.match(parsed.members[0]!.endpoint, /^https:\/\//);

  // Without the CA, keel status says why rather than "fetch failed".
  const endpoint = parsed.members[0]!.endpoint;
  const bare = await exitCode(['status', '--endpoints', endpoint]);
  assert.equal(bare.code, 1);
  assert.match(bare.stdout, /certificate|--cacert/i);

  // The gateway (cleartext on loopback) reaches the member over mutual TLS with its own certificate (CN keel-gateway);
  // its HTTPS health check has to pass before it routes anything.
  assert.equal(statSync(join(dataDir, 'tls', 'gateway.key')).mode & 0o077, 0);
  let viaGateway: unknown;
  await eventually(async () => {
    const response = await fetch(`http://127.0.0.1:${gatewayPort}/v3/kv/range`, { method: 'POST', body: '{"key":"dGxzLWtleQ=="}', signal: AbortSignal.timeout(5_000) }).catch(() => undefined);
    viaGateway = response?.status === 200 ? await response.json() : undefined;
    return viaGateway !== undefined;
  }, 30_000, 'a read through the gateway');
  assert.equal(Buffer.from((viaGateway as { kvs: Array<{ value: string }> }).kvs[0]!.value, 'base64').toString(), 'over-mtls');

  // Cleartext on the client port does not reach the store.
  const plain = await fetch(`${endpoint.replace('https://', 'http://')}/v3/kv/range`, { method: 'POST', body: '{"key":"dGxzLWtleQ=="}', signal: AbortSignal.timeout(5_000) }).then(
    (response) => response.status,
    () => 'refused',
  );
  assert.notEqual(plain, 200);
});
