/**
 * The KV check against a real keel member (the built `keel node`, one member),
 * and `keel probe run|serve` as processes: exit codes, JUnit, JSON output,
 * /metrics scraped from a running `keel probe serve`, SIGTERM. Needs
 * `npm run build` first (npm test builds before it runs the tests).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freeLoopbackPorts } from '../../../bench/lib/net.js';
import { parseChecks, ProbeServer, runChecks } from '../../../src/observe/probe/index.js';
import { probeRun, type RunFlags } from '../../../src/cli/probe.js';
import { Cluster } from '../../node/cluster-harness.js';
import { checkJunitStructure } from './junit-structure.js';

const bin = join(import.meta.dirname, '../../../dist/src/cli/main.js');
/** Generous: CI is a loaded 2-core box, and a member's first write waits for its fsync. */
const CHECK_TIMEOUT = '20s';

let cluster: Cluster;
let endpoint: string;
let dir: string;
let closedPort: number;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'keel-probe-kv-'));
  [closedPort] = (await freeLoopbackPorts(1)) as [number];
  cluster = await Cluster.start({ nodes: 1 });
  endpoint = (await cluster.leader(60_000)).clientUrl;
});

after(async () => {
  await cluster?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function range(key: string): Promise<{ count?: string; kvs?: { value: string }[] }> {
  const response = await fetch(`${endpoint}/v3/kv/range`, { method: 'POST', body: JSON.stringify({ key: Buffer.from(key).toString('base64') }), signal: AbortSignal.timeout(20_000) });
  assert.equal(response.status, 200);
  return (await response.json()) as { count?: string; kvs?: { value: string }[] };
}

test('the KV check round-trips a fresh value through a real keel member, deleting it when asked', { timeout: 120_000 }, async () => {
  const checks = parseChecks(
    `checks:
  - { name: kv-delete, timeout: ${CHECK_TIMEOUT}, kv: { endpoint: "${endpoint}", prefix: /probe-test/, delete: true } }
  - { name: kv-keep, timeout: ${CHECK_TIMEOUT}, kv: { endpoint: "${endpoint}", prefix: /probe-test/ } }
  - { name: kv-down, timeout: ${CHECK_TIMEOUT}, kv: { endpoint: "http://127.0.0.1:${closedPort}" } }
  - name: revision
    timeout: ${CHECK_TIMEOUT}
    http:
      url: ${endpoint}/v3/kv/range
      method: POST
      body: { key: "${Buffer.from('/probe-test/kv-keep').toString('base64')}" }
      expect: { status: 200, json: [{ path: "$.header.revision", gt: 0 }, { path: "$.kvs[0].key", exists: true }] }
`,
    'inline.yaml',
  );
  // kv-keep must have written before the revision check reads its key: run it first.
  const first = await runChecks(checks.slice(0, 3));
  const [deleted, kept, down] = first;
  assert.equal(deleted?.ok, true, deleted?.message);
  assert.equal(kept?.ok, true, kept?.message);
  assert.equal(down?.ok, false);
  assert.match(down?.message ?? '', new RegExp(`http://127\\.0\\.0\\.1:${closedPort}/v3/kv/put: .*ECONNREFUSED`));
  assert.equal((await range('/probe-test/kv-delete')).kvs, undefined, 'delete: true left the key behind');
  const value = Buffer.from((await range('/probe-test/kv-keep')).kvs?.[0]?.value ?? '', 'base64').toString('utf8');
  assert.match(value, /^\d{4}-\d\d-\d\dT[\d:.]+Z [0-9a-f]{24}$/);
  const [revision] = await runChecks(checks.slice(3));
  assert.equal(revision?.ok, true, revision?.message);
  // A second run writes a different value: each run proves a fresh write, not a stale read.
  await runChecks([checks[1]!]);
  assert.notEqual(Buffer.from((await range('/probe-test/kv-keep')).kvs?.[0]?.value ?? '', 'base64').toString('utf8'), value);
});

interface Run {
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  output(): { stdout: string; stderr: string };
}

const children = new Set<ChildProcess>();
after(() => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

function keelProbe(args: readonly string[]): Run {
  const child = spawn(process.execPath, [bin, 'probe', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk) => (stdout += String(chunk)));
  child.stderr!.on('data', (chunk) => (stderr += String(chunk)));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, exited, output: () => ({ stdout, stderr }) };
}

test('keel probe run: exit 0 when all pass, 99 on a failure with JUnit and JSON, 2 on a bad file, 1 on a bad flag', { timeout: 180_000 }, async () => {
  const passing = join(dir, 'passing.yaml');
  writeFileSync(passing, `checks:\n  - { name: kv, timeout: ${CHECK_TIMEOUT}, kv: { endpoint: "${endpoint}", delete: true } }\n  - { name: readyz, timeout: ${CHECK_TIMEOUT}, http: { url: "${endpoint}/readyz", expect: { body: { contains: ok } } } }\n`);
  const failing = join(dir, 'failing.yaml');
  writeFileSync(failing, `checks:\n  - { name: kv, timeout: ${CHECK_TIMEOUT}, kv: { endpoint: "${endpoint}" } }\n  - { name: closed, tcp: { address: "127.0.0.1:${closedPort}" } }\n`);
  const bad = join(dir, 'bad.yaml');
  writeFileSync(bad, 'checks:\n  - name: x\n    http: { url: "http://127.0.0.1/", expect: { status: two } }\n');
  const junit = join(dir, 'junit.xml');

  // The exit code of a real process once; the other cases in-process (the same function the command calls), to keep the suite's time down.
  const failed = keelProbe(['run', failing, '--junit', junit]);
  const inProcess = async (file: string, flags: Partial<RunFlags> = {}): Promise<{ code: number; out: string; err: string }> => {
    let out = '';
    let err = '';
    const code = await probeRun(file, { writeOut: 'table', concurrency: '4', ...flags }, { out: (text) => (out += `${text}\n`), err: (text) => (err += `${text}\n`) });
    return { code, out, err };
  };
  const ok = await inProcess(passing);
  assert.equal(ok.code, 0, JSON.stringify(ok));
  assert.match(ok.out, /PASS\s+kv\s+kv[\s\S]*all 2 checks passed/);
  const json = await inProcess(failing, { writeOut: 'json' });
  assert.equal(json.code, 99);
  const report = JSON.parse(json.out) as { ok: boolean; passed: number; failed: number; checks: { name: string; ok: boolean }[] };
  assert.deepEqual([report.ok, report.passed, report.failed, report.checks.map((check) => check.ok)], [false, 1, 1, [true, false]]);
  const badFile = await inProcess(bad);
  assert.equal(badFile.code, 2);
  assert.match(badFile.err, /bad\.yaml: checks\[0\]\.http\.expect\.status: expected a number .*\(KEEL_PROBE_BAD_CHECKS_FILE\)/);
  const badFlag = await inProcess(passing, { concurrency: '0' });
  assert.equal(badFlag.code, 1);
  assert.match(badFlag.err, /--concurrency: '0'/);
  const badJunit = await inProcess(passing, { junit: join(dir, 'missing-dir', 'junit.xml') });
  assert.equal(badJunit.code, 1);
  assert.match(badJunit.err, /--junit: cannot write .*missing-dir/);

  assert.equal(await failed.exited, 99, JSON.stringify(failed.output()));
  assert.match(failed.output().stdout, /FAIL\s+closed\s+tcp\s+\d+ms\s+.*ECONNREFUSED/);
  const root = checkJunitStructure(readFileSync(junit, 'utf8'), { tests: 2, failures: 1 });
  assert.equal(root.children[0]!.attributes.name, failing);
});

test('keel probe serve exports probe_success for a real member and stops on SIGTERM', { timeout: 180_000 }, async () => {
  const checks = join(dir, 'serve.yaml');
  writeFileSync(checks, `checks:\n  - { name: kv, timeout: ${CHECK_TIMEOUT}, labels: { service: keel }, kv: { endpoint: "${endpoint}", delete: true } }\n  - { name: grpc-port, tcp: { address: "${new URL(endpoint).host}" } }\n`);
  const [port] = await freeLoopbackPorts(1);
  const serve = keelProbe(['serve', checks, '--listen', `127.0.0.1:${port}`, '--interval', '1s']);
  const deadline = Date.now() + 120_000;
  let metrics = '';
  while (!/probe_success\{probe="kv",service="keel"\} 1/.test(metrics)) {
    assert.ok(Date.now() < deadline, `no passing kv probe in /metrics: ${metrics}\n${JSON.stringify(serve.output())}`);
    assert.equal(serve.child.exitCode, null, `keel probe serve exited: ${JSON.stringify(serve.output())}`);
    try {
      metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(5_000) })).text();
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.match(metrics, /probe_success\{probe="grpc-port",service=""\} 1/);
  assert.match(metrics, /probe_duration_seconds\{probe="kv",service="keel"\} [\d.e-]+/);
  serve.child.kill('SIGTERM');
  assert.equal(await serve.exited, 0, JSON.stringify(serve.output()));
  assert.match(serve.output().stderr, /keel probe stopped/);
  // A port another process holds fails before any check runs (the command maps this to exit code 78).
  await assert.rejects(ProbeServer.start(parseChecks(readFileSync(checks, 'utf8'), 'serve.yaml'), { host: '127.0.0.1', port: Number(new URL(endpoint).port), intervalMs: 1_000, concurrency: 1 }), /EADDRINUSE/);
});
