import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { isStopped } from '../../src/chaos/process-identity.js';
import { sleeper, stateDir, until } from './fixtures/helpers.js';

const main = join(import.meta.dirname, '../../src/cli/main.ts');

function keel(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', main, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

test('keel chaos: dry run plans without injecting, refusals exit 1 with the code, pause then heal', { timeout: 120_000 }, async (t) => {
  const victim = await sleeper(t);
  const dir = stateDir(t);
  const dry = await keel(['chaos', 'pause', `pid:${victim.pid}`, '--duration', '2m', '--state-dir', dir, '--dry-run']);
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, new RegExp(`inject: SIGSTOP pid ${victim.pid}`));
  assert.match(dry.stdout, new RegExp(`undo: SIGCONT pid ${victim.pid}`));
  assert.equal(isStopped(victim.pid!), false);

  const refused = await keel(['chaos', 'kill', 'zone:', '--state-dir', dir]);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /KEEL_CHAOS_UNKNOWN_SELECTOR/);

  const paused = await keel(['chaos', 'pause', `pid:${victim.pid}`, '--duration', '2m', '--state-dir', dir, '--json']);
  assert.equal(paused.code, 0, paused.stderr);
  assert.equal((JSON.parse(paused.stdout) as { kind: string }).kind, 'pause');
  await until(() => isStopped(victim.pid!), 30_000, 'the pause');
  const status = await keel(['chaos', 'status', '--state-dir', dir]);
  assert.match(status.stdout, /pause pid/);
  const healed = await keel(['chaos', 'heal', '--state-dir', dir]);
  assert.equal(healed.code, 0, healed.stderr);
  await until(() => !isStopped(victim.pid!), 30_000, 'heal to resume');

  // A member whose process is down: reported, exit 3 (nothing injected).
  const cluster = JSON.stringify({ members: [{ id: 'n1', zone: 'a', clientUrl: 'http://127.0.0.1:9', pid: null }] });
  const { mkdtempSync, writeFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const dataDir = mkdtempSync(join(tmpdir(), 'keel-chaos-cli-'));
  writeFileSync(join(dataDir, 'cluster.json'), cluster);
  const gone = await keel(['chaos', 'kill', 'n1', '--data-dir', dataDir, '--state-dir', dir]);
  assert.equal(gone.code, 3, gone.stdout + gone.stderr);
  assert.match(gone.stdout, /n1: not running/);
});
