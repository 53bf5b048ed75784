import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { createChaos, faultfsUnavailableReason, isMountPoint, parseFaultfsState, readClusterView, type ClusterView } from '../../src/chaos/index.js';
import { diskFaultsOf, parseEioRule } from '../../src/chaos/disk-fault.js';
import { parseBytes, parseDelayMs } from '../../src/cli/chaos.js';
import { put } from '../node/cluster-harness.js';
import { startKeelUp } from './fixtures/keel-up.js';
import { stateDir, until } from './fixtures/helpers.js';

// keel up --faultfs: real FUSE mounts under a real member (root, /dev/fuse, fusermount3, gcc, libfuse3-dev). Uses the built dist.
const unavailable = faultfsUnavailableReason();
const skip = unavailable ? `faultfs unavailable here: ${unavailable}` : false;
const DEADLINE_MS = 60_000;
const FSYNC_DELAY_MS = 200;

test('disk fault specs: EIO rules, delays in µs, a seed only for probabilities; bad values refused', () => {
  assert.deepEqual(parseEioRule('fsyncEio', 'next:3'), { next: 3 });
  assert.deepEqual(parseEioRule('fsyncEio', 'p:0.25'), { probability: 0.25 });
  for (const bad of ['next:0', 'p:0', 'p:1.5', 'next:-1', 'sometimes', 3]) assert.throws(() => parseEioRule('fsyncEio', bad), { code: 'KEEL_CHAOS_INVALID_FAULT' });
  const seed = (): number => 42;
  assert.deepEqual(diskFaultsOf({ kind: 'disk', target: 'n1', fsyncDelayMs: 0.5, writeEio: 'next:2', durationMs: 1_000 }, seed), { fsyncDelayUs: 500, writeEioNext: 2 });
  assert.deepEqual(diskFaultsOf({ kind: 'disk', target: 'n1', fsyncEio: 'p:0.1', enospcAfterBytes: 1_024, durationMs: 1_000 }, seed), { fsyncEioProbability: 0.1, spaceLimitBytes: 1_024, seed: 42 });
  for (const spec of [{}, { fsyncDelayMs: -1 }, { writeDelayMs: Number.NaN }, { enospcAfterBytes: 1.5 }, { fsyncDelayMs: 61_000 }]) {
    assert.throws(() => diskFaultsOf({ kind: 'disk', target: 'n1', durationMs: 1_000, ...spec }, seed), { code: 'KEEL_CHAOS_INVALID_FAULT' }, JSON.stringify(spec));
  }
  assert.equal(parseDelayMs('500us'), 0.5);
  assert.equal(parseDelayMs('20ms'), 20);
  assert.equal(parseDelayMs('1s'), 1_000);
  assert.equal(parseBytes('64MiB'), 64 * 1024 ** 2);
  assert.equal(parseBytes('4k'), 4_096);
  assert.equal(parseBytes('1000'), 1_000);
});

test('a disk fault on a member without a faultfs mount is refused, naming keel up --faultfs; nothing is recorded', async (t) => {
  const cluster: ClusterView = { members: [{ id: 'n1', zone: 'a', clientUrl: 'http://127.0.0.1:9', pid: null }] };
  const chaos = createChaos({ cluster, stateDir: stateDir(t) });
  await assert.rejects(chaos.inject({ kind: 'disk', target: 'n1', fsyncDelayMs: 10, durationMs: 1_000 }), (error: Error & { code?: string }) => {
    assert.equal(error.code, 'KEEL_CHAOS_UNSUPPORTED');
    assert.match(error.message, /keel up --faultfs/);
    return true;
  });
  await assert.rejects(chaos.inject({ kind: 'disk', target: 'n1', durationMs: 1_000 }), { code: 'KEEL_CHAOS_INVALID_FAULT' });
  assert.equal(chaos.active().length, 0);
});

test('keel up --faultfs: a slow fsync slows a put; an fsync EIO stops the member and keel up restarts it; the watchdog heals a SIGKILLed controller\'s fault; stop leaves no mount', { skip, timeout: 240_000 }, async (t) => {
  const { dataDir, urls, output, stop } = await startKeelUp(t, { nodes: 1, args: ['--faultfs'] });
  const url = urls[0]!;
  const states = stateDir(t);
  t.after(async () => {
    await createChaos({ stateDir: states }).heal();
  });
  let view: ClusterView | undefined;
  await until(() => {
    try {
      view = readClusterView(dataDir);
      return view.members[0]?.faultfs !== undefined && view.members[0].pid !== null;
    } catch {
      return false;
    }
  }, DEADLINE_MS, `cluster.json naming n1's faultfs mount (${output()})`);
  const mount = view!.members[0]!.faultfs!;
  const control = join(mount, '.faultfs');
  const faults = (): ReturnType<typeof parseFaultfsState> => parseFaultfsState(readFileSync(control, 'utf8'));
  assert.ok(isMountPoint(realpathSync(mount)), `${mount} is a mount point`);
  await until(() => put(url, 'disk/ready', 'yes', 2_000).then(() => true, () => false), DEADLINE_MS, `n1 to take writes (${output()})`);

  const chaos = createChaos({ dataDir, stateDir: states, seed: 1 });
  const dry = await createChaos({ dataDir, stateDir: states, dryRun: true }).inject({ kind: 'disk', target: 'n1', fsyncDelayMs: FSYNC_DELAY_MS, durationMs: 60_000 });
  assert.ok(dry.plan.includes(`inject: write "fsync_delay_us=200000" to ${control}`), dry.plan.join('\n'));
  assert.ok(dry.plan.includes(`undo: write "clear" to ${control}`), dry.plan.join('\n'));
  assert.equal(faults().fsyncDelayUs, 0, 'a dry run injects nothing');

  // A slow fsync: each put waits for at least one fsync of the WAL (a lower bound only).
  const slow = await chaos.inject({ kind: 'disk', target: 'n1', fsyncDelayMs: FSYNC_DELAY_MS, durationMs: 60_000 });
  assert.equal(faults().fsyncDelayUs, FSYNC_DELAY_MS * 1_000);
  const started = performance.now();
  await put(url, 'disk/slow', 'x', 30_000);
  const putMs = performance.now() - started;
  t.diagnostic(`a put with fsync +${FSYNC_DELAY_MS} ms took ${putMs.toFixed(0)} ms`);
  assert.ok(putMs >= FSYNC_DELAY_MS, `the put took ${putMs} ms`);
  await slow.heal();
  assert.equal(faults().fsyncDelayUs, 0);
  assert.equal(chaos.active().length, 0);

  // An fsync EIO is fatal to a member (fsyncgate): it exits 1, keel up starts it again, and it serves.
  const pidBefore = readClusterView(dataDir).members[0]!.pid;
  const failing = await chaos.inject({ kind: 'disk', target: 'n1', fsyncEio: 'next:1', durationMs: 60_000 });
  await put(url, 'disk/eio', 'x', 5_000).catch(() => undefined); // fails, or times out: the member dies under it
  await until(() => faults().fsyncEioInjectedTotal >= 1, DEADLINE_MS, 'faultfs to fail an fsync');
  await until(() => /n1 exited \(code 1\)/.test(output()), DEADLINE_MS, `keel up to see n1 exit (${output()})`);
  await until(() => {
    const pid = readClusterView(dataDir).members[0]!.pid;
    return pid !== null && pid !== pidBefore;
  }, DEADLINE_MS, 'keel up to restart n1');
  assert.match(readFileSync(join(dataDir, 'n1', 'keel.log'), 'utf8'), /KEEL_STORAGE_IO/);
  await until(() => put(url, 'disk/after-eio', 'yes', 2_000).then(() => true, () => false), DEADLINE_MS, `the restarted n1 to take writes (${output()})`);
  await failing.heal();
  assert.ok(isMountPoint(realpathSync(mount)), 'the restart kept the mount');

  // A controller SIGKILLed mid-fault: the watchdog clears the mount's faults when the lease ends.
  const spec = { kind: 'disk', target: 'n1', writeDelayMs: 1, durationMs: 3_000 };
  const controller = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'fixtures/pause-controller.ts'), states, JSON.stringify(spec), dataDir], { stdio: ['ignore', 'pipe', 'inherit'] });
  let said = '';
  controller.stdout.on('data', (chunk: Buffer) => (said += chunk.toString()));
  await until(() => said.includes('injected'), DEADLINE_MS, 'the controller to inject');
  controller.kill('SIGKILL');
  assert.equal(faults().writeDelayUs, 1_000, 'the fault is in force');
  await until(() => faults().writeDelayUs === 0, DEADLINE_MS, 'the watchdog to clear the write delay');
  await until(() => chaos.active().length === 0, DEADLINE_MS, 'the watchdog to drop the dead controller\'s fault record');

  // Stopping keel up unmounts; an undo afterwards finds the mount gone and counts it done, creating no file there.
  const late = await chaos.inject({ kind: 'disk', target: 'n1', fsyncDelayMs: 1, durationMs: 60_000 });
  await stop();
  const mountinfo = readFileSync('/proc/self/mountinfo', 'utf8');
  assert.equal(mountinfo.includes(realpathSync(dataDir)), false, `no mount left under ${dataDir}:\n${mountinfo}`);
  const report = await late.heal();
  assert.deepEqual(report?.errors, []);
  assert.match(report!.steps.join('\n'), /already gone/);
  assert.equal(existsSync(control), false, 'the undo created no control file in the bare mount point');
  assert.equal(chaos.active().length, 0);
});
