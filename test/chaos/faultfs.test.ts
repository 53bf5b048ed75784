import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { open, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { faultfsUnavailableReason, faultsControlText, isMountPoint, mountFaultfs, parseFaultfsState, type FaultfsMount } from '../../src/chaos/index.js';
import { until } from './fixtures/helpers.js';

// Real FUSE mounts: root, /dev/fuse, fusermount3, gcc and libfuse3-dev (apt-get install fuse3 libfuse3-dev gcc pkg-config).
const unavailable = faultfsUnavailableReason();
const skip = unavailable ? `faultfs unavailable here: ${unavailable}` : false;
const TEST_TIMEOUT_MS = 60_000;

/** Whether `pid` runs (a zombie does not: an orphan's reaper may be slow to collect it). */
function running(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** A backing dir and a mount point in a fresh temporary dir; unmounted and removed after the test whatever happens. */
async function mounted(t: TestContext): Promise<{ disk: FaultfsMount; backing: string; mountPoint: string }> {
  const root = realpathSync(mkdtempSync(join(tmpdir(), 'keel-faultfs-')));
  const backing = join(root, 'backing');
  const mountPoint = join(root, 'mnt');
  mkdirSync(backing);
  mkdirSync(mountPoint);
  let disk: FaultfsMount | undefined;
  t.after(async () => {
    try {
      await disk?.unmount();
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
  disk = await mountFaultfs({ backingDir: backing, mountPoint });
  return { disk, backing, mountPoint };
}

async function fsyncMs(path: string): Promise<number> {
  const handle = await open(path, 'a');
  try {
    await handle.write('x');
    const started = process.hrtime.bigint();
    await handle.sync();
    return Number(process.hrtime.bigint() - started) / 1e6;
  } finally {
    await handle.close();
  }
}

test('control text: only the fields given, checked against their bounds; the state reads back', () => {
  assert.equal(faultsControlText({ fsyncDelayUs: 2_000, spaceLimitBytes: null }), 'fsync_delay_us=2000\nspace_limit_bytes=off\n');
  assert.equal(faultsControlText({ fsyncEioNext: 1 }, true), 'clear\nfsync_eio_next=1\n');
  assert.throws(() => faultsControlText({ fsyncDelayUs: -1 }), { code: 'KEEL_CHAOS_INVALID_FAULT' });
  assert.throws(() => faultsControlText({ fsyncDelayUs: 61_000_000 }), { code: 'KEEL_CHAOS_INVALID_FAULT' });
  assert.throws(() => faultsControlText({ writeEioProbability: 1.5 }), { code: 'KEEL_CHAOS_INVALID_FAULT' });
  assert.throws(() => faultsControlText({ writeEioNext: 0.5 }), { code: 'KEEL_CHAOS_INVALID_FAULT' });
  assert.throws(() => faultsControlText({ fsyncDelayMs: 1 } as never), { code: 'KEEL_CHAOS_INVALID_FAULT' });
  const state = parseFaultfsState('fsync_delay_us=20\nspace_limit_bytes=off\nspace_used_bytes=unknown\nfsyncs_total=3\n');
  assert.equal(state.fsyncDelayUs, 20);
  assert.equal(state.spaceLimitBytes, null);
  assert.equal(state.spaceUsedBytes, null);
  assert.equal(state.fsyncsTotal, 3);
});

test('writes and fsyncs pass through to the backing dir; the control file is not listed; a bad control write is refused', { skip, timeout: TEST_TIMEOUT_MS }, async (t) => {
  const { disk, backing, mountPoint } = await mounted(t);
  mkdirSync(join(mountPoint, 'member'));
  const path = join(mountPoint, 'member', 'wal');
  const handle = await open(path, 'w');
  await handle.write('hello, disk');
  await handle.datasync();
  await handle.sync();
  await handle.close();
  assert.equal(readFileSync(join(backing, 'member', 'wal'), 'utf8'), 'hello, disk');
  assert.deepEqual(await readdir(mountPoint), ['member']);
  const state = await disk.state();
  assert.ok(state.fsyncsTotal >= 2, `fsyncs counted: ${state.fsyncsTotal}`);
  await assert.rejects(writeFile(disk.controlFile, 'fsync_delay_ms=3\n'), { code: 'EINVAL' });
  await assert.rejects(writeFile(disk.controlFile, 'fsync_delay_us=-3\n'), { code: 'EINVAL' });
  assert.equal((await disk.state()).fsyncDelayUs, 0, 'a refused write changes nothing');
});

test('a 20 ms fsync delay makes fsync take at least 20 ms, and changes at run time without a remount', { skip, timeout: TEST_TIMEOUT_MS }, async (t) => {
  const { disk, mountPoint } = await mounted(t);
  const path = join(mountPoint, 'slow');
  const pid = disk.pid;
  await disk.setFaults({ fsyncDelayUs: 20_000 });
  for (let round = 0; round < 3; round++) {
    const elapsedMs = await fsyncMs(path);
    assert.ok(elapsedMs >= 20, `fsync took ${elapsedMs.toFixed(2)} ms with a 20 ms delay`);
  }
  await disk.setFaults({ fsyncDelayUs: 60_000 });
  const longerMs = await fsyncMs(path);
  assert.ok(longerMs >= 60, `fsync took ${longerMs.toFixed(2)} ms with a 60 ms delay`);
  await disk.clearFaults();
  assert.equal((await disk.state()).fsyncDelayUs, 0);
  assert.equal(disk.pid, pid);
  assert.ok(running(pid), 'the same faultfs process serves throughout');
});

test('a delayed fsync holds up neither reads nor writes of other files', { skip, timeout: TEST_TIMEOUT_MS }, async (t) => {
  const { disk, mountPoint } = await mounted(t);
  await writeFile(join(mountPoint, 'other'), 'readable');
  await disk.setFaults({ fsyncDelayUs: 1_500_000 });
  const slow = await open(join(mountPoint, 'slow'), 'w');
  try {
    await slow.write('x');
    let synced = false;
    const sync = slow.sync().then(() => (synced = true));
    await until(async () => (await disk.state()).fsyncsTotal >= 1, 10_000, 'the fsync to reach faultfs');
    assert.equal(readFileSync(join(mountPoint, 'other'), 'utf8'), 'readable');
    await writeFile(join(mountPoint, 'third'), 'written');
    assert.equal(synced, false, 'the other file\'s read and write finished while the fsync slept');
    await sync;
  } finally {
    await slow.close();
  }
});

test('EIO with a probability follows the seed: the same seed fails the same fsyncs', { skip, timeout: TEST_TIMEOUT_MS }, async (t) => {
  const { disk, mountPoint } = await mounted(t);
  const handle = await open(join(mountPoint, 'wal'), 'w');
  const outcomes = async (): Promise<string> => {
    let pattern = '';
    for (let round = 0; round < 40; round++) pattern += await handle.sync().then(() => '.', (error: NodeJS.ErrnoException) => (error.code === 'EIO' ? 'E' : '?'));
    return pattern;
  };
  try {
    await disk.setFaults({ fsyncEioProbability: 0.5, seed: 7 });
    const first = await outcomes();
    await disk.setFaults({ seed: 8 });
    await disk.setFaults({ seed: 7 });
    const again = await outcomes();
    assert.equal(again, first);
    assert.match(first, /E/);
    assert.match(first, /\./);
    await disk.clearFaults();
    assert.equal(await outcomes(), '.'.repeat(40));
  } finally {
    await handle.close();
  }
});

test('EIO on the next fsync reaches the caller once, later fsyncs succeed; EIO on the next write likewise', { skip, timeout: TEST_TIMEOUT_MS }, async (t) => {
  const { disk, mountPoint } = await mounted(t);
  const handle = await open(join(mountPoint, 'wal'), 'w');
  try {
    await handle.write('entry 1');
    await disk.setFaults({ fsyncEioNext: 1 });
    await assert.rejects(handle.sync(), { code: 'EIO' });
    await handle.sync();
    await handle.datasync();
    await disk.setFaults({ writeEioNext: 1 });
    await assert.rejects(handle.write('entry 2'), { code: 'EIO' });
    await handle.write('entry 3');
  } finally {
    await handle.close();
  }
  const state = await disk.state();
  assert.equal(state.fsyncEioInjectedTotal, 1);
  assert.equal(state.writeEioInjectedTotal, 1);
  assert.equal(state.fsyncEioNext, 0);
});

test('ENOSPC once a write would grow the tree past the byte limit; overwrites still succeed; lifting the limit heals', { skip, timeout: TEST_TIMEOUT_MS }, async (t) => {
  const { disk, backing, mountPoint } = await mounted(t);
  await writeFile(join(mountPoint, 'existing'), Buffer.alloc(1_000));
  await disk.setFaults({ spaceLimitBytes: 4_096 });
  assert.equal((await disk.state()).spaceUsedBytes, 1_000, 'the limit counts what the tree held already');
  const handle = await open(join(mountPoint, 'segment'), 'w');
  try {
    await handle.write(Buffer.alloc(3_000, 1));
    await assert.rejects(handle.write(Buffer.alloc(200, 2)), { code: 'ENOSPC' });
    await handle.write(Buffer.alloc(3_000, 3), 0, 3_000, 0);
    await handle.sync();
    assert.equal(readFileSync(join(backing, 'segment')).length, 3_000);
    rmSync(join(mountPoint, 'existing'));
    await handle.write(Buffer.alloc(500, 4));
    await disk.setFaults({ spaceLimitBytes: null });
    await handle.write(Buffer.alloc(10_000, 5));
  } finally {
    await handle.close();
  }
  assert.equal((await disk.state()).enospcInjectedTotal, 1);
});

test('unmount leaves nothing mounted and the process gone; a mount dies with the process that made it, even by SIGKILL', { skip, timeout: TEST_TIMEOUT_MS }, async (t) => {
  const { disk, mountPoint } = await mounted(t);
  await disk.unmount();
  assert.equal(isMountPoint(mountPoint), false);
  await until(() => !running(disk.pid), 10_000, 'faultfs to exit');
  await disk.unmount();

  const root = realpathSync(mkdtempSync(join(tmpdir(), 'keel-faultfs-orphan-')));
  mkdirSync(join(root, 'backing'));
  mkdirSync(join(root, 'mnt'));
  const orphanMount = join(root, 'mnt');
  const script = `import { mountFaultfs } from ${JSON.stringify(new URL('../../src/chaos/index.ts', import.meta.url).href)};
    const disk = await mountFaultfs({ backingDir: ${JSON.stringify(join(root, 'backing'))}, mountPoint: ${JSON.stringify(orphanMount)} });
    process.stdout.write(disk.pid + '\\n'); setInterval(() => {}, 1000);`;
  const holder = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => {
    holder.kill('SIGKILL');
    if (isMountPoint(orphanMount)) spawn('umount', ['-l', orphanMount]);
    rmSync(root, { recursive: true, force: true });
  });
  const faultfsPid = await new Promise<number>((resolve, reject) => {
    holder.stdout!.once('data', (chunk: Buffer) => resolve(Number(chunk.toString().trim())));
    holder.once('exit', (code) => reject(new Error(`the holder exited (${code}) before mounting`)));
  });
  assert.ok(isMountPoint(orphanMount));
  holder.kill('SIGKILL');
  await until(() => !isMountPoint(orphanMount) && !running(faultfsPid), 20_000, 'the orphaned mount to go away');
});
