import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const fixture = fileURLToPath(new URL('./fixtures/close-exits.ts', import.meta.url));
/** A guard against a hung child, not a measurement: the fixture exits in well under a second when close() releases everything. */
const HUNG_CHILD_KILL_MS = 20_000;

test('after close() no handle is left: a process with pings, reconnect timers, delayed messages and a snapshot in flight exits by itself', async () => {
  const child = spawn(process.execPath, ['--import', 'tsx', fixture], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (data: Buffer) => (output += data.toString()));
  child.stderr.on('data', (data: Buffer) => (output += data.toString()));
  const guard = setTimeout(() => child.kill('SIGKILL'), HUNG_CHILD_KILL_MS);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('exit', (c, s) => resolve([c, s])));
  clearTimeout(guard);
  assert.equal(signal, null, `the child was killed: it did not exit after close()\n${output}`);
  assert.equal(code, 0, output);
  assert.match(output, /^closed$/m);
});
