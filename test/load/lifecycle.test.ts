import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { runLoad, type RunConfig } from '../../src/load/index.js';
import { isToWorker } from '../../src/load/messages.js';
import { decodeSetupData, encodeSetupData } from '../../src/load/setup-data.js';
import { DEFAULT_TLS } from '../../src/load/tls.js';

const main = join(import.meta.dirname, '../../src/cli/main.ts');
let dir: string;
let server: Server;
let base: string;
/** Request paths in arrival order (`/setup`, `/iteration?token=...`, `/teardown?...`). */
const paths: string[] = [];
/** The status /iteration answers (500 to fail a threshold). */
let iterationStatus = 200;
/** Called with the count of /iteration requests so far. */
let onIteration: (count: number) => unknown = () => undefined;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'keel-load-lifecycle-'));
  server = createServer((request, response) => {
    paths.push(request.url ?? '');
    if (request.url?.startsWith('/iteration')) onIteration(paths.filter((path) => path.startsWith('/iteration')).length);
    response.statusCode = request.url?.startsWith('/iteration') ? iterationStatus : 200;
    response.end(request.url === '/setup' ? JSON.stringify({ token: 't-42' }) : 'ok');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

const quiet = (): Writable => new Writable({ write: (_chunk, _encoding, done) => done() });

/** A scenario module: options, and setup/default/teardown bodies given as source. */
function scenario(name: string, parts: { options: Record<string, unknown>; setup?: string; iteration?: string; teardown?: string }): string {
  const file = join(dir, `${name}.mjs`);
  const lines = [`const base = ${JSON.stringify(base)};`, `export const options = ${JSON.stringify(parts.options)};`];
  if (parts.setup !== undefined) lines.push(`export async function setup(vu) { ${parts.setup} }`);
  lines.push(`export default async function (vu, data) { ${parts.iteration ?? `await vu.http.get(base + '/iteration?token=' + data.token);`} }`);
  if (parts.teardown !== undefined) lines.push(`export async function teardown(data, vu) { ${parts.teardown} }`);
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

const makeToken = `const response = await vu.http.get(base + '/setup'); vu.check(response, { 'setup answered': (r) => r.status === 200 }); return { token: response.json().token, created: [1, 2] };`;
const dropToken = `await vu.http.del(base + '/teardown?token=' + data.token + '&created=' + data.created.length);`;

function run(config: Partial<RunConfig> & { scenarioFile: string }) {
  paths.length = 0;
  return runLoad({ workers: 0, output: quiet(), progress: false, ...config });
}

test('setup data: JSON in, frozen out; what JSON would change or cannot carry is refused naming where it sits', () => {
  const data = decodeSetupData(encodeSetupData({ token: 'a', ids: [1, 2], nested: { ok: true, gone: undefined } })) as { ids: number[] };
  assert.deepEqual(data, { token: 'a', ids: [1, 2], nested: { ok: true } });
  assert.ok(Object.isFrozen(data) && Object.isFrozen(data.ids));
  assert.throws(() => data.ids.push(3), TypeError);
  assert.equal(encodeSetupData(undefined), undefined);
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  const refused: [unknown, RegExp][] = [
    [{ when: new Date() }, /data\.when is a Date, not a plain object/],
    [{ list: [1, () => 2] }, /data\.list\[1\] is a function/],
    [{ n: 10n }, /data\.n is a bigint/],
    [{ n: Number.NaN }, /data\.n is NaN/],
    [cyclic, /data\.self is a cycle/],
    [new Map(), /data is a Map/],
    [{ big: 'x'.repeat(1024 * 1024) }, /1048586 bytes of JSON; at most 1048576/],
  ];
  for (const [value, message] of refused) {
    assert.throws(() => encodeSetupData(value), (error: { code?: string; message: string }) => error.code === 'KEEL_LOAD_SETUP_FAILED' && message.test(error.message));
  }
});

test('the agent protocol refuses a job whose setup data is not JSON text', () => {
  const job = { scenarioFile: 'x.mjs', plans: [], tls: DEFAULT_TLS };
  assert.equal(isToWorker({ type: 'load', job: { ...job, setupData: '{"a":1}' } }), true);
  assert.equal(isToWorker({ type: 'load', job: { ...job, setupData: { a: 1 } } }), false);
  assert.equal(isToWorker({ type: 'load', job: { ...job, setupData: 'x'.repeat(1024 * 1024 + 1) } }), false);
});

test('setup runs once before any VU, its data reaches every iteration on a forked worker, teardown gets it after the run', { timeout: 60_000 }, async () => {
  const file = scenario('lifecycle', { options: { vus: 2, iterations: 4 }, setup: makeToken, teardown: dropToken });
  const result = await run({ scenarioFile: file, workers: 1 });
  assert.equal(result.exitCode, 0);
  assert.equal(paths[0], '/setup');
  assert.deepEqual(paths.slice(1, -1), Array(4).fill('/iteration?token=t-42'));
  assert.equal(paths.at(-1), '/teardown?token=t-42&created=2');
  // setup's and teardown's requests count, their checks grouped as k6 groups them.
  assert.equal(result.summary.counters.http_reqs?.count, 6);
  assert.deepEqual(result.summary.checks['::setup::setup answered'], { passes: 1, fails: 0 });
  assert.equal(result.summary.teardownFailed, undefined);
});

test('a setup that throws, times out or returns what cannot be sent: no VU runs, no teardown, KEEL_LOAD_SETUP_FAILED', async () => {
  const cases: [string, Record<string, unknown>, RegExp][] = [
    [`await vu.http.get(base + '/setup'); throw new Error('no database');`, {}, /setup\(\) threw Error: no database; no VU ran/],
    [`await vu.sleep(30);`, { setupTimeout: '300ms' }, /setup\(\) did not finish within 300ms \(options\.setupTimeout\); no VU ran/],
    [`return { at: new Date() };`, {}, /setup\(\) returned a value that cannot be sent to the VUs: data\.at is a Date/],
  ];
  for (const [index, [setup, options, message]] of cases.entries()) {
    const file = scenario(`setup-fails-${index}`, { options: { vus: 1, iterations: 1, ...options }, setup, teardown: dropToken });
    const started = Date.now();
    await assert.rejects(run({ scenarioFile: file }), (error: { code?: string; message: string }) => {
      assert.equal(error.code, 'KEEL_LOAD_SETUP_FAILED');
      assert.match(error.message, message);
      return true;
    });
    assert.ok(Date.now() - started < 10_000, 'the timeout cut setup off');
    assert.ok(paths.every((path) => path === '/setup'), `no iteration, no teardown: ${paths.join(' ')}`);
  }
});

test('a teardown that throws or times out fails the run (exit 1) but the summary prints and says why; a bad timeout is bad input', async () => {
  const output: string[] = [];
  const sink = new Writable({ write: (chunk, _encoding, done) => void (output.push(String(chunk)), done()) });
  const file = scenario('teardown-fails', { options: { vus: 1, iterations: 1 }, setup: makeToken, teardown: `throw new TypeError('cannot drop ' + data.token);` });
  const result = await run({ scenarioFile: file, output: sink });
  assert.equal(result.exitCode, 1);
  assert.equal(result.summary.teardownFailed, 'teardown() threw TypeError: cannot drop t-42');
  assert.equal(result.summary.passed, false);
  assert.match(output.join(''), /TEARDOWN FAILED: teardown\(\) threw TypeError: cannot drop t-42[\s\S]*result: FAIL/);
  const slow = scenario('teardown-slow', { options: { vus: 1, iterations: 1, teardownTimeout: '300ms' }, setup: makeToken, teardown: `await vu.sleep(30);` });
  assert.equal((await run({ scenarioFile: slow })).summary.teardownFailed, 'teardown() did not finish within 300ms (options.teardownTimeout)');
  const bad = scenario('timeout-bad', { options: { vus: 1, iterations: 1, setupTimeout: 'soon' }, setup: makeToken });
  await assert.rejects(run({ scenarioFile: bad }), (error: { code?: string; message: string }) => error.code === 'KEEL_LOAD_BAD_INPUT' && /options\.setupTimeout: a duration/.test(error.message));
});

test('teardown runs after a threshold aborts the run and after a graceful stop (Ctrl-C)', { timeout: 60_000 }, async () => {
  iterationStatus = 500;
  try {
    const aborting = scenario('abort', {
      options: { vus: 1, duration: '1m', thresholds: { http_req_failed: [{ threshold: 'rate<0.5', abortOnFail: true }] } },
      setup: makeToken,
      iteration: `await vu.http.get(base + '/iteration?token=' + data.token); await vu.sleep(0.05);`,
      teardown: dropToken,
    });
    const aborted = await run({ scenarioFile: aborting });
    assert.equal(aborted.exitCode, 99);
    assert.match(aborted.summary.aborted ?? '', /http_req_failed/);
    assert.equal(paths.at(-1), '/teardown?token=t-42&created=2');
  } finally {
    iterationStatus = 200;
  }
  // Ctrl-C as the command gives it: the run's signal aborts, here once the target has seen three iterations.
  const stop = new AbortController();
  onIteration = (count) => count === 3 && stop.abort();
  const long = scenario('interrupted', { options: { vus: 1, duration: '1m' }, setup: makeToken, iteration: `await vu.http.get(base + '/iteration?token=' + data.token); await vu.sleep(0.05);`, teardown: dropToken });
  const interrupted = await run({ scenarioFile: long, signal: stop.signal });
  onIteration = () => undefined;
  assert.equal(interrupted.summary.interrupted, true);
  assert.equal(paths.at(-1), '/teardown?token=t-42&created=2');
});

test('keel load: a failing setup exits 1 with the message', { timeout: 60_000 }, async () => {
  const file = scenario('cli-setup-fails', { options: { vus: 1, iterations: 1 }, setup: `throw new Error('no database');` });
  const child = spawn(process.execPath, ['--import', 'tsx', main, 'load', file, '--workers', '0', '--quiet'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr += String(chunk)));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  assert.equal(code, 1, stderr);
  assert.match(stderr, /keel load: setup\(\) threw Error: no database; no VU ran/);
});
