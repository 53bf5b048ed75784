import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { nemesisSchedule } from '../../src/chaos/campaign/index.js';
import { buildTimeline, clusterProblem, decideVariantsVerdict, decideVerdict, etcdControlCluster, leaderChanges, OutcomeWindow, served, parseExperiment, withinTolerance, type ExperimentError } from '../../src/experiment/index.js';

// In-process: the file's schema and its errors, the seeded schedule, the
// verdict table, tolerances, the timeline's postmortem figures. No cluster.

const minimal = `title: t
method: []
`;

function badInput(text: string): ExperimentError {
  try {
    parseExperiment(text, 'x.yaml');
  } catch (error) {
    return error as ExperimentError;
  }
  assert.fail('expected a bad-input error');
}

test('a minimal file parses with Chaos Toolkit defaults', () => {
  const experiment = parseExperiment(minimal, 'x.yaml');
  assert.equal(experiment.title, 't');
  assert.deepEqual(experiment.rollbacks, []);
  assert.deepEqual(experiment.configuration.cluster, { members: 3, gateway: true, netns: false, failpoints: false });
});

test('every experiment in experiments/ parses', () => {
  const dir = join(import.meta.dirname, '../../experiments');
  const files = readdirSync(dir).filter((name) => name.endsWith('.yaml'));
  assert.ok(files.length >= 3);
  for (const name of files) parseExperiment(readFileSync(join(dir, name), 'utf8'), name);
});

test('a bad file names the file, the line and the field', () => {
  const error = badInput(`title: t
faults:
  every: [5s, 10s]
  for: 2s
  one-of: [kill-leader, melt-cpu]
  duration: 20s
`);
  assert.equal(error.code, 'KEEL_EXPERIMENT_BAD_INPUT');
  assert.match(error.message, /^x\.yaml: line 5: faults\.one-of\.1: /);
  assert.match(badInput('title: t\nmethod:\n  - type: action\n    name: a\n    provider: { type: keel, func: reboot }\n').message, /line 5: method\.0\.provider/);
  assert.match(badInput('title: t\nhistory: { clients: 0 }\n').message, /history\.clients/);
  assert.match(badInput('title: t\nfaults: { every: 5x, for: 1s, one-of: [kill-leader], duration: 10s }\n').message, /faults\.every.*not a duration/);
  assert.match(badInput('title: [unclosed\n').message, /^x\.yaml: line \d+:/);
  assert.match(badInput('method: []\n').message, /title/);
  assert.match(badInput('title: t\nfaults: { every: 5s, for: 1s, one-of: [isolate-leader], duration: 10s }\n').message, /netns/);
  assert.match(badInput('title: t\nmethod:\n  - type: action\n    name: a\n    provider: { type: chaos, arguments: { kind: explode } }\n').message, /kind/);
});

test('an etcd control run on loopback takes process faults only, and says so naming the field', () => {
  const etcd = 'title: t\nconfiguration: { cluster: { kind: etcd, members: 3 } }\n';
  assert.deepEqual(parseExperiment(`${etcd}faults: { every: 1s, for: 1s, one-of: [kill-leader, pause-follower], duration: 5s }\n`, 'x.yaml').configuration.cluster, { kind: 'etcd', members: 3, netns: false, gateway: false });
  assert.match(badInput(`${etcd}faults: { every: 1s, for: 1s, one-of: [isolate-leader], duration: 5s }\n`).message, /faults\.one-of: isolate-leader: an etcd control run on loopback takes process faults only.*netns: true/);
  assert.match(badInput(`${etcd}method:\n  - { type: action, name: a, provider: { type: chaos, arguments: { kind: partition, shape: halves, duration: 1s } } }\n`).message, /method\.0\.provider\.arguments\.kind: partition: an etcd control run/);
  assert.match(badInput(`${etcd}method:\n  - { type: action, name: a, provider: { type: chaos, arguments: { kind: disk, target: n1, fsyncDelayMs: 20, duration: 1s } } }\n`).message, /method\.0\.provider\.arguments\.kind: disk: an etcd control run on loopback takes .* only \(disk faults need keel members on keel up --faultfs mounts\)/);
  assert.match(badInput('title: t\nconfiguration: { cluster: { kind: etcd, members: 7 } }\n').message, /configuration\.cluster/);
});

test('an etcd control run in namespaces takes network faults, still no failpoints, and --cluster etcd picks namespaces when the file needs them', () => {
  const etcd = 'title: t\nconfiguration: { cluster: { kind: etcd, members: 5, netns: true } }\n';
  const scheduled = parseExperiment(`${etcd}faults: { every: 1s, for: 1s, one-of: [isolate-leader, bridge, kill-leader], duration: 5s }\n`, 'x.yaml');
  assert.deepEqual(scheduled.configuration.cluster, { kind: 'etcd', members: 5, netns: true, gateway: false });
  parseExperiment(`${etcd}method:\n  - { type: action, name: a, provider: { type: chaos, arguments: { kind: partition, shape: leader-minority, duration: 1s } } }\n  - { type: action, name: b, provider: { type: chaos, arguments: { kind: netem, target: leader, delay: 50ms, duration: 1s } } }\n`, 'x.yaml');
  const failpoint = badInput(`${etcd}rollbacks:\n  - { type: action, name: a, provider: { type: chaos, arguments: { kind: failpoint, target: leader, name: wal-before-fsync, action: 'sleep(1)', duration: 1s } } }\n`);
  assert.equal(failpoint.code, 'KEEL_EXPERIMENT_BAD_INPUT');
  assert.match(failpoint.message, /rollbacks\.0\.provider\.arguments\.kind: failpoint: an etcd control run in namespaces takes .*partition, netem only \(etcd has no fault-injection API\)/);
  // --cluster etcd on a keel file: namespaces when the file's cluster has them or its faults need them, and then the file is accepted.
  for (const file of ['split-brain', 'watch-partition']) {
    const experiment = parseExperiment(readFileSync(join(import.meta.dirname, `../../experiments/${file}.yaml`), 'utf8'), file);
    const control = etcdControlCluster(experiment);
    assert.ok('netns' in control && control.netns, file);
    assert.equal(clusterProblem(experiment, control), undefined, file);
  }
  const partitionOnly = parseExperiment('title: t\nconfiguration: { cluster: { members: 3 } }\nmethod:\n  - { type: action, name: a, provider: { type: chaos, arguments: { kind: partition, shape: halves, duration: 1s } } }\n', 'x.yaml');
  assert.deepEqual(etcdControlCluster(partitionOnly), { kind: 'etcd', members: 3, netns: true, gateway: false });
  assert.deepEqual(etcdControlCluster(parseExperiment('title: t\nconfiguration: { cluster: { members: 7 } }\n', 'x.yaml')), { kind: 'etcd', members: 5, netns: false, gateway: false });
  // A scenario that loads or probes the gateway gets a keel gateway in front of etcd too.
  const gatewayScenario = parseExperiment('title: t\nconfiguration: { cluster: { members: 3 } }\nsteady-state-hypothesis:\n  probes:\n    - { name: g, provider: { type: keel, func: gateway-ready }, tolerance: true }\n', 'x.yaml');
  assert.deepEqual(etcdControlCluster(gatewayScenario), { kind: 'etcd', members: 3, netns: false, gateway: true });
});

test('one seed, one schedule: the faults extension is reproducible', () => {
  const experiment = parseExperiment(`title: t\nseed: 42\nconfiguration: { cluster: { netns: true } }\nfaults: { every: [5s, 10s], for: [2s, 4s], one-of: [isolate-leader, kill-leader, pause-leader], duration: 120s }\n`, 'x.yaml');
  const faults = experiment.faults!;
  assert.deepEqual(faults.every, [5_000, 10_000]);
  const schedule = (seed: number) => nemesisSchedule({ seed, runMs: faults.duration, faults: faults['one-of'], faultMs: faults.for, quietMs: faults.every });
  assert.deepEqual(schedule(42), schedule(42));
  assert.notDeepEqual(schedule(42), schedule(43));
  let previousEnd = 0;
  for (const step of schedule(42)) {
    assert.ok(step.durationMs >= 2_000 && step.durationMs <= 4_000);
    assert.ok(step.atMs - previousEnd >= 5_000 && step.atMs - previousEnd <= 10_000, 'every 5-10 s');
    previousEnd = step.atMs + step.durationMs;
  }
  assert.deepEqual(new Set(schedule(42).map((step) => step.fault)), new Set(['isolate-leader', 'kill-leader', 'pause-leader']));
});

test('the verdict: statuses and exit codes', () => {
  const base = { steadyStateBefore: true, steadyStateAfter: true, activityFailed: false, stoppedBy: undefined, interrupted: false, check: 'ok' as const };
  assert.deepEqual(decideVerdict(base), { status: 'completed', deviated: false, exitCode: 0, reason: 'completed; the history is linearizable' });
  assert.equal(decideVerdict({ ...base, steadyStateAfter: false }).exitCode, 1);
  assert.equal(decideVerdict({ ...base, steadyStateAfter: false }).deviated, true);
  assert.equal(decideVerdict({ ...base, steadyStateBefore: false, steadyStateAfter: null }).status, 'failed');
  assert.equal(decideVerdict({ ...base, steadyStateBefore: false, steadyStateAfter: null }).deviated, false);
  assert.deepEqual([decideVerdict({ ...base, stoppedBy: 'probe x' }).status, decideVerdict({ ...base, stoppedBy: 'probe x' }).exitCode], ['aborted', 3]);
  assert.deepEqual([decideVerdict({ ...base, check: 'violation' }).exitCode, decideVerdict({ ...base, stoppedBy: 'x', check: 'violation' }).exitCode], [4, 4]);
  assert.deepEqual([decideVerdict({ ...base, interrupted: true }).status, decideVerdict({ ...base, interrupted: true }).exitCode], ['interrupted', 130]);
  assert.equal(decideVerdict({ ...base, check: 'unknown' }).exitCode, 1);
  assert.equal(decideVerdict({ ...base, activityFailed: true }).exitCode, 1);
  assert.deepEqual([decideVerdict({ ...base, loadThresholdsFailed: ['http_req_failed rate==0'] }).exitCode, decideVerdict({ ...base, loadThresholdsFailed: ['x'] }).deviated], [1, true]);
  assert.match(decideVerdict({ ...base, loadThresholdsFailed: ['http_req_failed rate==0'] }).reason, /http_req_failed rate==0/);
  assert.equal(decideVerdict({ ...base, check: null, steadyStateBefore: null, steadyStateAfter: null }).exitCode, 0);
});

test("Chaos Toolkit's tolerances", () => {
  assert.ok(withinTolerance(true, true));
  assert.ok(!withinTolerance(true, false));
  assert.ok(withinTolerance(200, 200));
  assert.ok(withinTolerance([200, 204], 204));
  assert.ok(withinTolerance({ type: 'range', range: [2, 3] }, 3));
  assert.ok(!withinTolerance({ type: 'range', range: [2, 3] }, 1));
  assert.ok(withinTolerance({ type: 'regex', pattern: '^n[0-9]$' }, 'n2'));
  assert.ok(!withinTolerance({ type: 'regex', pattern: '(' }, 'n2'), 'a bad pattern is not met, never a crash');
  assert.ok(withinTolerance({ type: 'range', range: [1, 30], target: 'TTL' }, { ID: '7', TTL: '28' }), "etcd's JSON int64s are strings");
  assert.ok(!withinTolerance({ type: 'range', range: [1, 30], target: 'TTL' }, { TTL: '-1' }));
  assert.ok(withinTolerance({ type: 'range', range: [5, 5], target: 'header.revision' }, { header: { revision: '5' } }), 'a dotted target');
  assert.ok(!withinTolerance({ type: 'range', range: [5, 5], target: 'header.revision' }, { header: null }));
});

test('the timeline: throughput per second, time to detect and to recover a fault', () => {
  // 10 ok/s, a fault at 3 s: two seconds of errors, back at 6 s.
  const operations = [];
  for (let second = 0; second < 10; second++) {
    for (let index = 0; index < 10; index++) {
      const call = second * 1_000 + index * 100;
      const broken = second === 3 || second === 4;
      operations.push({ call, ret: call + 5, type: broken ? ('info' as const) : ('ok' as const) });
    }
  }
  const timeline = buildTimeline({
    durationMs: 10_000,
    operations,
    leaders: [{ atMs: 0, value: 'n1' }, { atMs: 3_500, value: null }, { atMs: 4_500, value: 'n2' }],
    burnRates: [],
    faults: [{ name: 'kill-leader', description: 'kill -9 n1', startMs: 3_000, endMs: 3_100 }],
  });
  assert.equal(timeline.source, 'history');
  assert.equal(timeline.rows.length, 10);
  assert.equal(timeline.baselinePerSecond, 10);
  assert.deepEqual(timeline.leaderChanges.map((change) => change.value), ['n1', 'n2']);
  assert.equal(timeline.faults[0]!.detectMs, 1_000);
  assert.equal(timeline.faults[0]!.recoverMs, 2_000);
  assert.deepEqual(timeline.totals, { ok: 80, errors: 20 });
});

test('the history-errors window counts only what completed within it', () => {
  const window = new OutcomeWindow(100);
  for (let atMs = 0; atMs < 10_000; atMs += 100) window.add(atMs, atMs >= 8_000);
  assert.deepEqual(window.errorRatio(9_950, 2_000), { ratio: 1, count: 20 });
  assert.equal(window.errorRatio(9_950, 4_000).ratio, 0.5);
  assert.deepEqual(new OutcomeWindow().errorRatio(0, 1_000), { ratio: null, count: 0 });
});

test('leader changes: a missing leader (an election) is not a change, a different one is', () => {
  const samples = ['n1', null, 'n1', 'n2', null, 'n3', 'n3'].map((value) => ({ value }));
  assert.equal(leaderChanges(samples), 2);
  assert.equal(leaderChanges([]), 0);
});

test('served: an ok, or a compare-and-set whose compare did not match; never a failed read or an unknown write', () => {
  assert.deepEqual([served('ok', 'read'), served('fail', 'cas'), served('fail', 'read'), served('info', 'cas'), served('info', 'write')], [true, true, false, false, false]);
});

const services = `title: t
configuration:
  cluster:
    kind: services
    backends: [{ id: b1, delay: 5ms, capacity: 2 }, { id: b2 }]
    gateway:
      routes: [{ name: all, match: { prefix: / }, cluster: app, retry: { maxAttempts: 3, budgetRatio: 0.1 } }]
      clusters: { app: { endpoints: [{ address: '\${b1}' }, { address: '\${b2}' }] } }
`;

test('a services cluster: backends behind a gateway config, checked as the gateway checks it, naming the field', () => {
  const cluster = parseExperiment(services, 'x.yaml').configuration.cluster;
  assert.ok('kind' in cluster && cluster.kind === 'services');
  assert.deepEqual(cluster.backends, [{ id: 'b1', delay: 5, capacity: 2 }, { id: 'b2', delay: 0, capacity: 0 }]);
  assert.match(badInput(services.replace("'\${b2}'", "'\${b9}'")).message, /line \d+: configuration\.cluster\.gateway: .*\$\{b9\} names no backend/);
  assert.match(badInput(services.replace('maxAttempts: 3', 'maxAttempts: 0')).message, /configuration\.cluster\.gateway: not a keel gateway config: routes\.0\.retry\.maxAttempts/);
  assert.match(badInput(services.replace('{ id: b2 }', '{ id: b1 }')).message, /backend ids must differ/);
  assert.match(badInput(`${services}history: { clients: 2 }\n`).message, /history: a services cluster has no store/);
});

test('variants: each is the file with its fields set, validated, named in errors', () => {
  const text = `${services}variants:
  - { name: with, expect: completed }
  - name: without
    expect: failed
    set:
      configuration.cluster.gateway.routes.0.retry.budgetRatio: 1
      configuration.cluster.backends.0.capacity: null
`;
  const experiment = parseExperiment(text, 'x.yaml');
  const [withRun, withoutRun] = experiment.variantRuns!;
  assert.deepEqual([withRun!.name, withRun!.expect, withoutRun!.name, withoutRun!.expect], ['with', 'completed', 'without', 'failed']);
  const gatewayOf = (run: typeof withRun) => (run!.experiment.configuration.cluster as unknown as { gateway: { routes: { retry: { budgetRatio: number } }[] } }).gateway;
  assert.equal(gatewayOf(withRun).routes[0]!.retry.budgetRatio, 0.1);
  assert.equal(gatewayOf(withoutRun).routes[0]!.retry.budgetRatio, 1);
  assert.equal((withoutRun!.experiment.configuration.cluster as { backends: { capacity: number }[] }).backends[0]!.capacity, 0, 'null removes the field: its default');
  assert.equal(withoutRun!.experiment.variants, undefined);
  assert.match(badInput(text.replace('budgetRatio: 1', 'budgetRatio: 7')).message, /variants\.1 \(without\): .*budgetRatio/);
  assert.match(badInput(text.replace('configuration.cluster.gateway.routes.0.retry.budgetRatio', 'configuration.nothing.here')).message, /variants\.1\.set: configuration\.nothing\.here: nothing is not an object/);
  assert.match(badInput(`${services}variants: [{ name: only }]\n`).message, /variants/);
  assert.match(badInput(`${services}variants: [{ name: a }, { name: a }]\n`).message, /variant names must differ/);
});

test('the verdict over variants: completed when each ends as expected', () => {
  const completed = decideVerdict({ steadyStateBefore: true, steadyStateAfter: true, activityFailed: false, stoppedBy: undefined, interrupted: false, check: null });
  const failed = decideVerdict({ steadyStateBefore: true, steadyStateAfter: true, activityFailed: true, stoppedBy: undefined, interrupted: false, check: null });
  const asExpected = decideVariantsVerdict([{ name: 'with', expect: 'completed', verdict: completed }, { name: 'without', expect: 'failed', verdict: failed }], false);
  assert.deepEqual([asExpected.status, asExpected.exitCode], ['completed', 0]);
  const noDifference = decideVariantsVerdict([{ name: 'with', expect: 'completed', verdict: completed }, { name: 'without', expect: 'failed', verdict: completed }], false);
  assert.deepEqual([noDifference.status, noDifference.deviated, noDifference.exitCode], ['failed', true, 1]);
  assert.match(noDifference.reason, /without: completed .*expected failed/);
  assert.equal(decideVariantsVerdict([{ name: 'with', expect: 'completed', verdict: completed }], true).exitCode, 130);
});
