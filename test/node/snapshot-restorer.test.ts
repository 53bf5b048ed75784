import assert from 'node:assert/strict';
import { test } from 'node:test';
import { restoreInSlices, type RestoreSliceOptions } from '../../src/node/snapshot-restorer.js';
import { StoreStateMachine, type StoreRestore } from '../../src/store/index.js';
import { encodeCommand } from '../../src/store/index.js';

/** A store of `keys` keys, as snapshot bytes. */
function snapshotOf(keys: number): Uint8Array {
  const machine = new StoreStateMachine();
  const encoder = new TextEncoder();
  for (let i = 0; i < keys; i++) machine.apply(i + 1, encodeCommand({ type: 'put', request: { key: encoder.encode(`key/${i}`), value: encoder.encode(`value ${i}`) } }));
  return machine.snapshot();
}

/** Records 'step' for every step of `restore`. */
function traced(restore: StoreRestore, events: string[]): StoreRestore {
  return {
    step: (workMax) => {
      events.push('step');
      return restore.step(workMax);
    },
    abandon: () => restore.abandon(),
    get recordsDecoded() {
      return restore.recordsDecoded;
    },
  };
}

/**
 * A heartbeat stand-in: a callback that runs once per event-loop turn
 * (setImmediate) until stopped, recording 'tick' each time. No wall clock:
 * the restore's clock is a counter, one millisecond per reading.
 */
function ticker(events: string[]): { ticks: () => number; stop: () => void } {
  let ticks = 0;
  let running = true;
  const tick = (): void => {
    if (!running) return;
    ticks++;
    events.push('tick');
    setImmediate(tick);
  };
  setImmediate(tick);
  return { ticks: () => ticks, stop: () => (running = false) };
}

function options(overrides: Partial<RestoreSliceOptions> = {}): RestoreSliceOptions {
  let clock = 0;
  return {
    sliceMs: 3,
    stepWork: 200,
    now: () => clock++,
    yieldTurn: () => new Promise((resolve) => setImmediate(resolve)),
    stopped: () => false,
    ...overrides,
  };
}

test('a restore runs in slices, and a per-turn callback runs between every two of them', async () => {
  const snapshot = snapshotOf(4000);
  const machine = new StoreStateMachine();
  const events: string[] = [];
  const heartbeat = ticker(events);
  const report = await restoreInSlices(traced(machine.beginRestore(snapshot), events), options());
  heartbeat.stop();
  assert.equal(report.done, true);
  assert.equal(report.records, 4000);
  assert.deepEqual(machine.snapshot(), snapshot);
  assert.ok(report.slices > 10, `${report.slices} slices`);
  // Between the first step and the last, the steps come in runs (one slice each) separated by ticks.
  const first = events.indexOf('step');
  const last = events.lastIndexOf('step');
  const during = events.slice(first, last + 1);
  const runs = during.join(' ').split('tick').map((run) => run.trim()).filter((run) => run.length > 0);
  assert.equal(runs.length, report.slices, 'every slice is separated from the next by at least one tick');
  assert.ok(during.filter((event) => event === 'tick').length >= report.slices - 1);
  const longestRun = Math.max(...runs.map((run) => run.split(' ').length));
  assert.ok(longestRun <= 3, `at most sliceMs worth of steps run between ticks (saw ${longestRun})`);
});

test('a restore is given up between slices once the member stops; the state stays as it was', async () => {
  const snapshot = snapshotOf(3000);
  const machine = new StoreStateMachine();
  machine.apply(1, encodeCommand({ type: 'put', request: { key: new Uint8Array([1]), value: new Uint8Array([2]) } }));
  const before = machine.snapshot();
  let slices = 0;
  const report = await restoreInSlices(machine.beginRestore(snapshot), options({ yieldTurn: () => new Promise((resolve) => setImmediate(resolve)).then(() => void slices++), stopped: () => slices >= 2 }));
  assert.equal(report.done, false);
  assert.equal(machine.restoring, false);
  assert.deepEqual(machine.snapshot(), before);
});

test('damaged bytes reject the restore with the store error; the state stays as it was', async () => {
  const snapshot = snapshotOf(2000);
  snapshot[snapshot.length - 100]! ^= 1;
  const machine = new StoreStateMachine();
  await assert.rejects(restoreInSlices(machine.beginRestore(snapshot), options()), (error: unknown) => (error as { code?: string }).code === 'KEEL_STORE_MALFORMED_BYTES');
  assert.equal(machine.restoring, false);
  assert.equal(machine.appliedIndex, 0);
});
