import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

// `keel sim` as a user runs it: the built JavaScript under plain node
// (`npm test` builds first), checked for output and exit codes.
const root = join(import.meta.dirname, '../..');
const bin = join(root, 'dist/src/cli/main.js');

function keel(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [bin, ...args], { cwd: root, encoding: 'utf8', timeout: 60_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

test('the built keel binary exists (npm run build)', () => {
  assert.ok(existsSync(bin), `${bin} is missing: run npm run build`);
});

test('keel sim --seed runs one seed and exits 0', () => {
  const run = keel('sim', '--seed', '42', '--nodes', '5', '--steps', '3000');
  assert.equal(run.status, 0, run.stderr);
  assert.match(run.stdout, /seed 42 ok: 5 nodes, \d+ steps/);
  assert.match(run.stdout, /1 seeds \(1x5 nodes\), 0 failed/);
});

test('keel sim --seeds runs a range and prints one summary', () => {
  const run = keel('sim', '--seeds', '1..5', '--steps', '2000', '--json');
  assert.equal(run.status, 0, run.stderr);
  const summary = JSON.parse(run.stdout) as { seeds: number; failures: number; steps: number };
  assert.equal(summary.seeds, 5);
  assert.equal(summary.failures, 0);
  assert.ok(summary.steps >= 10_000);
});

test('usage errors exit 1 with a message', () => {
  const missing = keel('sim');
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /--seed N or --seeds/);
  const badNodes = keel('sim', '--seed', '1', '--nodes', '4');
  assert.equal(badNodes.status, 1);
  assert.match(badNodes.stderr, /must be 1, 3, 5 or 7/);
  const badRange = keel('sim', '--seeds', '9..1');
  assert.equal(badRange.status, 1);
  assert.match(badRange.stderr, /empty seed range/);
});
