import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { simulateHistory, toKeelEvents } from '../../src/check/simulate.js';

// `keel check` as a user runs it: the built JavaScript under plain node (`npm test` builds first).
const root = join(import.meta.dirname, '../..');
const bin = join(root, 'dist/src/cli/main.js');
const fixtures = join(root, 'test/check/fixtures');

function keel(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [bin, 'check', ...args], { cwd: root, encoding: 'utf8', timeout: 120_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

test('keel check exits 0 on linearizable histories and 99 on a violation, with the counterexample', () => {
  const ok = keel(join(fixtures, 'jepsen-etcd/etcd_002.log'), join(fixtures, 'kv/c01-ok.txt'));
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /etcd_002\.log: linearizable \(model cas-register/);
  assert.match(ok.stdout, /c01-ok\.txt: linearizable \(model kv/);
  const bad = keel(join(fixtures, 'kv/c01-ok.txt'), join(fixtures, 'kv/c01-bad.txt'));
  assert.equal(bad.status, 99);
  assert.match(bad.stdout, /c01-bad\.txt: NOT LINEARIZABLE/);
  assert.match(bad.stdout, /counterexample \(\d+ operations/);
});

test('keel check --json and --html: one JSON object per file, a self-contained timeline', () => {
  const directory = mkdtempSync(join(tmpdir(), 'keel-check-'));
  try {
    const history = join(directory, 'hot.jsonl');
    writeFileSync(history, toKeelEvents(simulateHistory({ seed: 9, model: 'cas-register', clients: 20, operations: 2000, staleRead: true })));
    const page = join(directory, 'out.html');
    const run = keel(history, '--json', '--html', page);
    assert.equal(run.status, 99, run.stderr);
    const result = JSON.parse(run.stdout) as { verdict: string; model: string; counterexample: { operations: { ret: number | null }[] } };
    assert.equal(result.verdict, 'violation');
    assert.equal(result.model, 'cas-register');
    assert.ok(result.counterexample.operations.length > 0);
    const html = readFileSync(page, 'utf8');
    assert.match(html, /<svg /);
    assert.match(html, /class="ok bad/);
    assert.doesNotMatch(html, /<script|https?:\/\/(?!www\.w3\.org)/, 'nothing fetched from elsewhere');
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
});

test('keel check exits 3 (unknown, not a pass) when the time limit runs out, and says what it explored', () => {
  const directory = mkdtempSync(join(tmpdir(), 'keel-check-'));
  try {
    const history = join(directory, 'kv.jsonl');
    writeFileSync(history, toKeelEvents(simulateHistory({ seed: 4, model: 'kv', clients: 10, operations: 20_000, keys: 200 })));
    const run = keel(history, '--time-limit-ms', '1');
    assert.equal(run.status, 3, run.stderr);
    assert.match(run.stdout, /UNKNOWN \(budget exhausted; not a pass\)/);
    assert.match(run.stdout, /undecided: time budget exhausted/);
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
});

test('keel check: a malformed file exits 2 naming the line, a usage error exits 1', () => {
  const directory = mkdtempSync(join(tmpdir(), 'keel-check-'));
  try {
    const history = join(directory, 'bad.jsonl');
    writeFileSync(history, '{"process":1,"type":"invoke","f":"read","time":1}\n{"process":1,"type":"ok","f":"read","value":1,"time":"x"}\n');
    const run = keel(history);
    assert.equal(run.status, 2);
    assert.match(run.stderr, /bad\.jsonl:2: time must be a finite number \(KEEL_CHECK_MALFORMED_LINE\)/);
    assert.equal(keel(history, '--time-limit-ms', '-1').status, 1);
    assert.equal(keel(history, '--model', 'queue').status, 1);
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
});

test('keel check applies etcd\'s revision rules when the history has revisions, and draws faults on the timeline', () => {
  const directory = mkdtempSync(join(tmpdir(), 'keel-check-'));
  try {
    // Linearizable per key, but the watch skips the write at revision 3: only the revision rules can tell.
    const lines = [
      { process: 'w', type: 'watch-start', key: 'k', revision: 2 },
      { process: 1, type: 'invoke', f: 'write', key: 'k1', value: 'x', time: 0 },
      { process: 1, type: 'ok', f: 'write', key: 'k1', value: 'x', time: 10, revision: 2 },
      { process: 'nemesis', type: 'fault', f: 'kill-leader', value: 'kill -9 n1', time: 12, end: 18 },
      { process: 2, type: 'invoke', f: 'write', key: 'k2', value: 'y', time: 20 },
      { process: 2, type: 'ok', f: 'write', key: 'k2', value: 'y', time: 30, revision: 3 },
      { process: 1, type: 'invoke', f: 'read', key: 'k2', value: null, time: 40 },
      { process: 1, type: 'ok', f: 'read', key: 'k2', value: 'y', time: 50, revision: 3, modRevision: 3 },
      { process: 1, type: 'invoke', f: 'write', key: 'k1', value: 'z', time: 60 },
      { process: 1, type: 'ok', f: 'write', key: 'k1', value: 'z', time: 70, revision: 4 },
      { process: 'w', type: 'watch', f: 'put', key: 'k1', value: 'x', revision: 2, time: 11 },
      { process: 'w', type: 'watch', f: 'put', key: 'k1', value: 'z', revision: 4, time: 71 },
    ];
    const history = join(directory, 'gap.jsonl');
    writeFileSync(history, lines.map((line) => JSON.stringify(line)).join('\n'));
    const page = join(directory, 'gap.html');
    const run = keel(history, '--html', page);
    assert.equal(run.status, 99, run.stderr);
    assert.match(run.stdout, /gap\.jsonl: linearizable/);
    assert.match(run.stdout, /etcd revisions: REVISION RULES BROKEN \(1 violations\)/);
    assert.match(run.stdout, /watch-gap: watch w skipped k2="y" at revision 3/);
    const html = readFileSync(page, 'utf8');
    assert.match(html, /etcd revision rules: 1 broken/);
    assert.match(html, /1 faults injected/);
    const fixed = join(directory, 'fixed.jsonl');
    const delivered = { process: 'w', type: 'watch', f: 'put', key: 'k2', value: 'y', revision: 3, time: 31 };
    writeFileSync(fixed, [...lines.slice(0, -1), delivered, lines.at(-1)!].map((line) => JSON.stringify(line)).join('\n'));
    const good = keel(fixed);
    assert.equal(good.status, 0, good.stdout);
    assert.match(good.stdout, /etcd revisions: revisions consistent/);
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
});
