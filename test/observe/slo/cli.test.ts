import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startMetricsServer } from './fixtures.js';

// `keel slo` as a user runs it: the built JavaScript under plain node (`npm test` builds first).
const root = join(import.meta.dirname, '../../..');
const bin = join(root, 'dist/src/cli/main.js');
const example = join(root, 'examples/slo/keel.yaml');

/** Runs keel asynchronously (the test's own /metrics server must keep answering meanwhile). */
function keel(...args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [bin, 'slo', ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => (stdout += String(chunk)));
  child.stderr.on('data', (chunk) => (stderr += String(chunk)));
  const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
  return new Promise((resolve) => child.once('exit', (status) => {
    clearTimeout(timer);
    resolve({ status, stdout, stderr });
  }));
}

test('keel slo generate writes rules; bad input exits 2 naming the field; status (unreachable targets: evaluator-scrape.test.ts) reads /metrics and exits 99 on a page burn', { timeout: 240_000 }, async () => {
  const directory = mkdtempSync(join(tmpdir(), 'keel-slo-cli-'));
  // A real HTTP /metrics server the test controls (fixtures.ts): every call it serves fails, so the page burns.
  const counters = { ok: 0, unavailable: 0, fast: 0, down: false };
  const { server, url } = await startMetricsServer(counters);
  const grow = setInterval(() => {
    counters.unavailable += 50;
    counters.fast += 50;
  }, 100);
  try {
    const out = join(directory, 'rules.yaml');
    const [generated, bad, status] = await Promise.all([
      keel('generate', example, '-o', out, '--time-scale', '60', '--evaluation-interval', '1s'),
      (async () => {
        const file = join(directory, 'bad.yaml');
        writeFileSync(file, readFileSync(example, 'utf8').replace('target: 0.999', 'target: 99.9'));
        return keel('generate', file);
      })(),
      keel('status', example, '--scrape', url, '--interval', '1s', '--min-events', '1', '-w', 'json'),
    ]);
    assert.equal(generated.status, 0, generated.stderr);
    const rules = readFileSync(out, 'utf8');
    assert.match(rules, /TIME-SCALED by 60/);
    assert.match(rules, /interval: 1s/);
    assert.match(rules, /rate\(grpc_server_handled_total\{grpc_service="etcdserverpb.KV"\}\[5s\]\)/);

    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /bad\.yaml: document 5 \(SLO kv-availability\): spec\.objectives\[0\]\.target: must be > 0 and < 1 \(KEEL_OBSERVE_BAD_SLO\)/);

    assert.equal(status.status, 99, status.stderr);
    const evaluation = JSON.parse(status.stdout) as { slos: { id: string; pageFiring: boolean; windows: { window: string; errorRatio: number }[] }[] };
    const availability = evaluation.slos.find((slo) => slo.id === 'keel-store-kv-availability')!;
    assert.equal(availability.pageFiring, true);
    assert.equal(availability.windows.find((window) => window.window === '5m')!.errorRatio, 1);
  } finally {
    clearInterval(grow);
    server.close();
    rmSync(directory, { recursive: true, force: true });
  }
});
