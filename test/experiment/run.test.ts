import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { freeKeelUpBase } from '../../bench/lib/net.js';
import { keelUpTarget, waitUntil } from '../../src/chaos/campaign/index.js';

// End to end: one real `keel up` cluster (3 members, no gateway), shared by
// every test, and `keel experiment run` as a real process on it. The first
// three run short versions of library scenarios (experiments/): pause then
// read, with load, its report opened in headless Chromium; a lease across
// a leader kill; compactions around a kill -9. The fourth holds a follower paused until a probe stop condition
// aborts the run, which must exit 3 and leave nothing paused; the third
// SIGKILLs the run while a follower is paused: the chaos watchdog must
// resume it at its lease's end; the last switches on the planted stale-read
// bug (test-only: KEEL_TEST_STALE_READS=1 in the members' environment lets
// POST /debug/stale-reads turn it on) on one member, and the experiment must
// exit 4 with a counterexample.
const bin = join(import.meta.dirname, '../../dist/src/cli/main.js');
const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync'];

const root = mkdtempSync(join(tmpdir(), 'keel-experiment-'));
const dataDir = join(root, 'cluster');
let stopCluster: () => Promise<void> = async () => {};

before(async () => {
  const up = spawn(process.execPath, [bin, 'up', '--no-gateway', '--no-dashboard', '--quiet', '--base-port', String(await freeKeelUpBase(3)), '--data-dir', dataDir], { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, KEEL_TEST_STALE_READS: '1' } });
  const exited = new Promise((resolve) => up.once('exit', resolve));
  stopCluster = async () => {
    up.kill('SIGTERM');
    await exited;
  };
  await waitUntil(async () => existsSync(join(dataDir, 'cluster.json')) && (JSON.parse(readFileSync(join(dataDir, 'cluster.json'), 'utf8')) as { members: unknown[] }).members.length === 3, 30_000, 'cluster.json');
  await keelUpTarget(dataDir, { stateDir: join(root, 'chaos-state'), seed: 1 }).waitHealthy(60_000);
});

after(async () => {
  await stopCluster();
  rmSync(root, { recursive: true, force: true });
});

function startExperiment(name: string, text: string) {
  const file = join(root, `${name}.yaml`);
  const output = join(root, `${name}-out`);
  writeFileSync(file, text);
  const child = spawn(process.execPath, [bin, 'experiment', 'run', file, '--data-dir', dataDir, '--output', output], { stdio: ['ignore', 'pipe', 'pipe'] });
  const seen = { stdout: '', stderr: '' };
  child.stdout!.on('data', (chunk: Buffer) => (seen.stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (seen.stderr += chunk.toString()));
  const exited = new Promise<{ code: number | null; stdout: string; stderr: string; output: string }>((resolve) => child.once('exit', (code) => resolve({ code, ...seen, output })));
  return { child, seen, output, exited };
}

function runExperiment(name: string, text: string): Promise<{ code: number | null; stdout: string; stderr: string; output: string }> {
  return startExperiment(name, text).exited;
}

const memberPids = (): { id: string; pid: number }[] => (JSON.parse(readFileSync(join(dataDir, 'cluster.json'), 'utf8')) as { members: { id: string; pid: number }[] }).members;
const stopped = (pid: number): boolean => readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]![0] === 'T';

/** A library scenario (experiments/NAME.yaml) made short for CI, on the shared cluster (its own cluster dropped: --data-dir). */
function library(name: string, edit: (doc: Record<string, any>) => void): string {
  const doc = parse(readFileSync(join(import.meta.dirname, '../../experiments', `${name}.yaml`), 'utf8')) as Record<string, any>;
  delete doc.configuration;
  edit(doc);
  return stringify(doc);
}

const hypothesis = `steady-state-hypothesis:
  probes:
    - { name: cluster-ready, provider: { type: keel, func: cluster-ready }, tolerance: true }
`;

test('pause-then-read from the library, short, with load: exit 0, a journal, a report that renders', { timeout: 180_000 }, async (t) => {
  const result = await runExperiment('pauses', library('pause-then-read', (doc) => {
    doc.faults = { ...doc.faults, every: ['1s', '2s'], for: ['1s', '1500ms'], duration: '5s' };
    doc.history = { clients: 3, keys: 2 };
    doc.load = {
      target: 'member',
      options: { scenarios: { open: { executor: 'constant-arrival-rate', rate: 20, timeUnit: '1s', duration: '60s', preAllocatedVUs: 10 } } },
      requests: [{ url: '${target}/v3/kv/range', method: 'POST', body: { key: 'ZQ==' } }],
    };
  }));
  t.diagnostic(result.stderr);
  assert.equal(result.code, 0, result.stderr);
  const journal = JSON.parse(readFileSync(join(result.output, 'journal.json'), 'utf8'));
  assert.equal(journal.status, 'completed');
  assert.equal(journal.deviated, false);
  assert.equal(journal.steady_states.before.steady_state_met, true);
  assert.equal(journal.steady_states.after.steady_state_met, true);
  assert.equal(journal.keel.check.verdict, 'ok');
  assert.ok(journal.keel.faults.filter((fault: { injected: boolean }) => fault.injected).length >= 1, 'a fault was injected');
  assert.ok(journal.keel.load.requests > 0, 'the load ran');
  assert.ok(readFileSync(join(result.output, 'history.jsonl'), 'utf8').includes('"type":"fault"'), 'the history carries the faults');

  if (!existsSync(CHROMIUM)) {
    t.diagnostic(`${CHROMIUM} is missing: the report was not opened`);
    return;
  }
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 60_000 });
  try {
    const page = await browser.newPage({ viewport: { width: 1000, height: 1400 } });
    const requests: string[] = [];
    page.on('request', (request) => requests.push(request.url()));
    await page.goto(`file://${join(result.output, 'report.html')}`);
    assert.equal(await page.textContent('#status'), 'completed');
    const charts = await page.$$eval('#timeline svg.chart', (svgs) => svgs.map((svg) => ({ height: svg.getBoundingClientRect().height, lines: svg.querySelectorAll('polyline').length, faults: svg.querySelectorAll('rect.fault').length })));
    assert.equal(charts.length, 5, 'throughput, errors, latency, burn rate, leader');
    for (const chart of charts) assert.ok(chart.height > 50 && chart.faults >= 1, `chart laid out with faults shaded: ${JSON.stringify(chart)}`);
    assert.ok(charts[0]!.lines >= 1);
    assert.match((await page.textContent('#postmortem')) ?? '', /time to recover/);
    assert.deepEqual(requests.filter((url) => !url.startsWith('file:')), [], 'nothing fetched from the network');
  } finally {
    await browser.close();
  }
});

test('lease-leader-change from the library, short (one leader kill): the lease and its key survive', { timeout: 120_000 }, async (t) => {
  const result = await runExperiment('lease', library('lease-leader-change', (doc) => {
    doc.method = doc.method.filter((activity: { name: string }) => !/new leader|serves again/.test(activity.name));
    doc.method.find((activity: { name: string }) => activity.name === 'kill the leader').pauses = { before: 1, after: 1 };
    doc.history = { clients: 2, keys: 2, watch: false };
  }));
  t.diagnostic(result.stderr);
  assert.equal(result.code, 0, result.stderr);
  const journal = JSON.parse(readFileSync(join(result.output, 'journal.json'), 'utf8'));
  assert.deepEqual(journal.run.map((run: { status: string }) => run.status), journal.run.map(() => 'succeeded'));
  assert.ok(Number(journal.run.find((run: { activity: { name: string } }) => run.activity.name === 'the lease is alive').output.TTL) > 0);
});

test('crash-during-compaction from the library, short: compactions around a kill -9, revisions never go backwards', { timeout: 120_000 }, async (t) => {
  const result = await runExperiment('compaction', library('crash-during-compaction', (doc) => {
    doc.method = doc.method.slice(0, 2).map((activity: Record<string, unknown>) => ({ ...activity, pauses: { after: 1 } }));
    doc.faults = { every: ['500ms', '500ms'], for: ['1s', '1s'], 'one-of': ['kill-follower'], duration: '2s' };
    doc.history = { clients: 3, keys: 2, watch: true };
  }));
  t.diagnostic(result.stderr);
  assert.equal(result.code, 0, result.stderr);
  const journal = JSON.parse(readFileSync(join(result.output, 'journal.json'), 'utf8'));
  assert.equal(journal.keel.check.revisions.verdict, 'ok');
  assert.ok(journal.keel.check.revisions.watch_events > 0, 'the watches saw events');
  assert.ok(journal.run.some((run: { status: string; output: unknown }) => run.status === 'succeeded' && typeof run.output === 'number'), 'a compaction ran');
  assert.ok(journal.keel.faults.some((fault: { injected: boolean }) => fault.injected), 'a member was killed');
});

test('a probe stop condition aborts the run with exit 3, and the paused member is resumed', { timeout: 120_000 }, async (t) => {
  const result = await runExperiment('abort', `title: stop on a paused follower
seed: 9
${hypothesis}method:
  - { type: action, name: pause a follower, provider: { type: chaos, arguments: { kind: pause, target: follower, duration: 60s } }, pauses: { after: 50 } }
stop-conditions:
  - { type: probe, name: cluster-ready, provider: { type: keel, func: cluster-ready }, tolerance: true, failures: 2 }
`);
  t.diagnostic(result.stderr);
  assert.equal(result.code, 3, result.stderr);
  const journal = JSON.parse(readFileSync(join(result.output, 'journal.json'), 'utf8'));
  assert.equal(journal.status, 'aborted');
  assert.match(journal.keel.stopped_by, /cluster-ready failed 2 time/);
  assert.ok(journal.duration < 50, 'aborted before the 50 s pause ended');
  const paused = /pause (n\d)/.exec(journal.run[0].output.description)![1]!;
  const members = (JSON.parse(readFileSync(join(dataDir, 'cluster.json'), 'utf8')) as { members: { id: string; pid: number }[] }).members;
  const pid = members.find((member) => member.id === paused)!.pid;
  const state = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]![0];
  assert.notEqual(state, 'T', `${paused} (pid ${pid}) is still stopped`);
  assert.deepEqual(readdirSync(join(result.output, 'chaos-state', 'faults')), [], 'no fault record left');
  assert.equal(existsSync(join(result.output, 'report.html')), true);
});

test('a run SIGKILLed while a follower is paused: the watchdog resumes it at its lease end and no fault record is left', { timeout: 120_000 }, async () => {
  const run = startExperiment('sigkill', `title: killed mid-fault
seed: 13
method:
  - { type: action, name: pause a follower, provider: { type: chaos, arguments: { kind: pause, target: follower, duration: 3s } }, pauses: { after: 60 } }
`);
  await waitUntil(async () => /action pause a follower: succeeded/.test(run.seen.stderr) || run.child.exitCode !== null, 60_000, 'the pause');
  assert.match(run.seen.stderr, /pause a follower: succeeded/);
  assert.ok(memberPids().some((member) => stopped(member.pid)), 'a member is paused');
  run.child.kill('SIGKILL');
  await run.exited;
  // Nothing of the run is left to heal it: only the detached watchdog, which undoes the pause when its 3 s lease ends.
  await waitUntil(async () => memberPids().every((member) => !stopped(member.pid)), 60_000, 'every member resumed');
  const stateDir = join(run.output, 'chaos-state');
  await waitUntil(async () => readdirSync(join(stateDir, 'faults')).length === 0, 30_000, 'no fault record left');
  assert.deepEqual(existsSync(join(stateDir, 'failed')) ? readdirSync(join(stateDir, 'failed')) : [], [], 'no undo failed');
  await keelUpTarget(dataDir, { stateDir: join(root, 'chaos-state'), seed: 2 }).waitHealthy(60_000);
});

test('a planted bug: a member serving stale reads is caught, exit 4 with a counterexample', { timeout: 120_000 }, async (t) => {
  const result = await runExperiment('stale', `title: planted stale reads
seed: 21
method:
  - type: action
    name: switch on the planted stale-read bug on the first member
    provider: { type: http, method: POST, url: '\${member}/debug/stale-reads', body: { on: true } }
    tolerance: 200
    pauses: { after: 4 }
rollbacks:
  - { type: action, name: switch it off, provider: { type: http, method: POST, url: '\${member}/debug/stale-reads', body: { on: false } } }
history: { clients: 3, keys: 1, watch: false }
`);
  t.diagnostic(result.stderr);
  assert.equal(result.code, 4, result.stderr);
  const journal = JSON.parse(readFileSync(join(result.output, 'journal.json'), 'utf8'));
  assert.equal(journal.keel.check.verdict, 'violation');
  assert.equal(journal.keel.check.linearizability.verdict, 'violation');
  const counterexample = journal.keel.check.linearizability.counterexample;
  // Minimized to the operations that cannot be ordered: a stale read, or an operation that acted on what one showed.
  assert.ok(counterexample !== null && counterexample.operations.length >= 1, 'a counterexample');
  t.diagnostic(`counterexample: ${JSON.stringify(counterexample)}`);
  assert.ok(counterexample.operations.every((operation: { key: string }) => operation.key.startsWith('keel-experiment/21-')), 'on the keys of this run');
  assert.equal(journal.rollbacks[0].status, 'succeeded', 'the bug is switched off again');
});
