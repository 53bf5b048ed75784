#!/usr/bin/env node
// Collects test files under test/ and hands them to Node's test runner.
// Node 20's `--test` does not expand globs itself, hence this small script.
// Usage: node scripts/run-tests.mjs [path-fragment ...]  (filters by substring)
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { spawn } from 'node:child_process';

const root = new URL('..', import.meta.url).pathname;
const filters = process.argv.slice(2);

function collect(dir) {
  const found = [];
  for (const name of readdirSync(dir).sort()) {
    const full = join(dir, name);
    if (statSync(full).isDirectory()) found.push(...collect(full));
    else if (name.endsWith('.test.ts')) found.push(relative(root, full));
  }
  return found;
}

const files = collect(join(root, 'test')).filter(
  (file) => filters.length === 0 || filters.some((filter) => file.includes(filter)),
);
if (files.length === 0) {
  console.error(`no test files match ${filters.join(' ')}`);
  process.exit(1);
}
const reporter = process.env.CI ? 'spec' : 'dot';
// Bounds, so a leaked handle or a stuck wait cannot hold a run until CI's limit:
// every test has 5 minutes, and a file's process exits once its tests are done
// even if something (an open gRPC stream, a timer) would keep it alive.
const bounds = ['--test-timeout=300000'];
if (process.allowedNodeEnvironmentFlags.has('--test-force-exit')) bounds.push('--test-force-exit');
// A second reporter writes the run's totals to a file; they are printed after
// the run so they come last (CI reads the final "N passed, N failed" line).
const totalsDir = mkdtempSync(join(tmpdir(), 'keel-test-totals-'));
const totalsFile = join(totalsDir, 'totals.json');
const reporters = [
  `--test-reporter=${reporter}`, '--test-reporter-destination=stdout',
  `--test-reporter=${new URL('./totals-reporter.mjs', import.meta.url).href}`, `--test-reporter-destination=${totalsFile}`,
];
const child = spawn(
  process.execPath,
  // reap-children.mjs: the processes a test file spawns die with its process (see there).
  ['--import', 'tsx', '--import', new URL('./reap-children.mjs', import.meta.url).href, '--test', ...reporters, '--test-concurrency=2', ...bounds, ...files],
  { stdio: 'inherit', cwd: root },
);
child.on('exit', (code, signal) => {
  printTotals();
  process.exit(signal ? 1 : (code ?? 1));
});

function printTotals() {
  let totals;
  try {
    totals = JSON.parse(readFileSync(totalsFile, 'utf8'));
  } catch {
    console.log('\ntest totals unavailable: the test runner ended before reporting them');
    return;
  } finally {
    rmSync(totalsDir, { recursive: true, force: true });
  }
  const seconds = (totals.durationMs / 1000).toFixed(1);
  // A cancelled test (its file timed out or crashed) did not pass: it counts as failed in the last line.
  const failed = totals.fail + totals.cancelled;
  const skipped = totals.skipped + totals.todo;
  console.log(`\ntests ${totals.tests}, pass ${totals.pass}, fail ${totals.fail}, cancelled ${totals.cancelled}, skipped ${totals.skipped}, todo ${totals.todo}, duration ${seconds} s`);
  console.log(`${totals.pass} passed, ${failed} failed, ${skipped} skipped`);
}
