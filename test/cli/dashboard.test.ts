import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';

/** `keel dashboard` with bad input: exit 1 and a message naming the flag or file, before anything listens. */
const bin = join(import.meta.dirname, '../../dist/src/cli/main.js');

function run(args: string[]): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [bin, 'dashboard', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  // Bounded: a dashboard that started by mistake would otherwise run until the test timeout.
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  return new Promise((resolve) => child.once('exit', (code) => {
    clearTimeout(timer);
    resolve({ code, stderr });
  }));
}

test('keel dashboard refuses bad flags and a missing cluster.json, naming them', { timeout: 60_000 }, async () => {
  // Two processes: each loads the whole CLI, which takes seconds on a loaded box. The parsers' other refusals are unit-tested in test/observe/dashboard/targets.test.ts.
  const [url, dataDir] = await Promise.all([
    run(['--prometheus', 'ftp://x', '--endpoints', '127.0.0.1:1']),
    run(['--data-dir', '/nonexistent/keel']),
  ]);
  assert.equal(url.code, 1);
  assert.match(url.stderr, /--prometheus: "ftp:\/\/x" is not an http or https URL/);
  assert.equal(dataDir.code, 1);
  assert.match(dataDir.stderr, /keel dashboard: \/nonexistent\/keel\/cluster\.json not found/);
});
