import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { processExists as alive } from '../../src/chaos/process-identity.js';

const reaper = new URL('../../scripts/reap-children.mjs', import.meta.url).href;

// A test file whose test times out while a process it spawned runs on: Node's runner cancels it and
// (--test-force-exit) ends the file's process; with the reaper loaded the spawned process dies with it.
const FIXTURE = `
import { test } from 'node:test';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
test('spawns a process and never finishes', async () => {
  const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 120000)'], { stdio: 'ignore' });
  writeFileSync(process.env.PID_FILE, String(child.pid));
  await new Promise((resolve) => setTimeout(resolve, 120000));
});
`;

async function runFixture(withReaper: boolean): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'keel-reap-'));
  try {
    writeFileSync(join(dir, 'hang.test.mjs'), FIXTURE);
    const pidFile = join(dir, 'pid');
    const args = [...(withReaper ? ['--import', reaper] : []), '--test', '--test-timeout=1000', '--test-force-exit', join(dir, 'hang.test.mjs')];
    // Without NODE_TEST_CONTEXT: this file runs under Node's runner, which marks its processes so a nested runner reports to it.
    const { NODE_TEST_CONTEXT: _, ...env } = process.env;
    const runner = spawn(process.execPath, args, { cwd: dir, stdio: 'ignore', env: { ...env, PID_FILE: pidFile } });
    await once(runner, 'exit');
    return Number(readFileSync(pidFile, 'utf8'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function gone(pid: number, withinMs: number): Promise<boolean> {
  for (const end = Date.now() + withinMs; Date.now() < end; await sleep(100)) if (!alive(pid)) return true;
  return !alive(pid);
}

test('a process spawned by a test file that timed out dies with the file when the reaper is loaded, and is orphaned without it', async () => {
  const reaped = await runFixture(true);
  assert.ok(await gone(reaped, 30_000), `pid ${reaped} outlived its test file`);

  // The control: without the reaper the same file leaves its process running (so the check above can fail).
  const orphan = await runFixture(false);
  try {
    assert.equal(await gone(orphan, 3_000), false, 'without the reaper the spawned process should have been orphaned');
  } finally {
    if (alive(orphan)) process.kill(orphan, 'SIGKILL');
  }
});
