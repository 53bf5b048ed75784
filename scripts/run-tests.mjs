#!/usr/bin/env node
// Collects test files under test/ and hands them to Node's test runner.
// Node 20's `--test` does not expand globs itself, hence this small script.
// Usage: node scripts/run-tests.mjs [path-fragment ...]  (filters by substring)
import { readdirSync, statSync } from 'node:fs';
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
const child = spawn(
  process.execPath,
  ['--import', 'tsx', '--test', `--test-reporter=${reporter}`, '--test-concurrency=2', ...bounds, ...files],
  { stdio: 'inherit', cwd: root },
);
child.on('exit', (code, signal) => process.exit(signal ? 1 : (code ?? 1)));
