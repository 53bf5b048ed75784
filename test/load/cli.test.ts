import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const main = join(import.meta.dirname, '../../src/cli/main.ts');

function keelLoad(args: readonly string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, ['--import', 'tsx', main, 'load', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => (stdout += String(chunk)));
  child.stderr.on('data', (chunk) => (stderr += String(chunk)));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, exited, output: () => ({ stdout, stderr }) };
}

test('bad input exits 2 with the message naming the line', { timeout: 120_000 }, async () => {
  const run = keelLoad([join(import.meta.dirname, 'fixtures/bad.yaml')]);
  assert.equal(await run.exited, 2);
  assert.match(run.output().stderr, /line 3: options\.duration/);
});

test('Ctrl-C stops the run gracefully and still prints the summary', { timeout: 180_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'keel-load-cli-'));
  const server = createServer((_request, response) => response.end('ok'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const scenario = join(dir, 'long.mjs');
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/`;
    writeFileSync(scenario, `export const options = { vus: 5, duration: '10m' };\nexport default async function (vu) { await vu.http.get('${url}'); await vu.sleep(0.1); }\n`);
    const series = join(dir, 'series.ndjson');
    const run = keelLoad([scenario, '--workers', '1', '--out', `ndjson=${series}`, '--summary-export', join(dir, 'summary.json')]);
    // Wait until the run is under way (a point with requests in the series), then interrupt.
    const deadline = Date.now() + 120_000;
    while (!(existsSync(series) && /"requests":[1-9]/.test(readFileSync(series, 'utf8')))) {
      assert.ok(Date.now() < deadline, `the run never started: ${JSON.stringify(run.output())}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    run.child.kill('SIGINT');
    assert.equal(await run.exited, 0, JSON.stringify(run.output()));
    assert.match(run.output().stdout, /run interrupted \(Ctrl-C\)/);
    const summary = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8')) as { interrupted: boolean; counters: { http_reqs: { count: number } } };
    assert.equal(summary.interrupted, true);
    assert.ok(summary.counters.http_reqs.count > 0);
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  }
});
