import assert from 'node:assert/strict';
import { it } from 'node:test';
import fc from 'fast-check';
import { MalformedBytesError, StoreAssertionError, StoreStateMachine } from '../../src/store/index.js';
import type { Command } from '../../src/store/index.js';
import { IncrementalMergeSort } from '../../src/store/merge-sort.js';
import { bytes, Harness } from './helpers.js';

/** Commands over a few keys and leases, so that keys get several records, tombstones, compactions and lease links. */
const commandArbitrary: fc.Arbitrary<(store: Harness) => Command> = fc.oneof(
  fc.record({ key: fc.integer({ min: 0, max: 30 }), size: fc.integer({ min: 0, max: 40 }), lease: fc.constantFrom(0n, 5n, 6n) }).map(({ key, size, lease }) => (store: Harness): Command => ({
    type: 'put',
    request: { key: bytes(`k${key}`), value: new Uint8Array(size).fill(key), lease: store.machine.leases().some((l) => l.id === lease) ? lease : 0n },
  })),
  fc.integer({ min: 0, max: 30 }).map((key) => (): Command => ({ type: 'deleteRange', request: { key: bytes(`k${key}`) } })),
  fc.integer({ min: 0, max: 3 }).map((back) => (store: Harness): Command => ({ type: 'compact', request: { revision: Math.max(1, store.machine.revision - back) } })),
  fc.constantFrom(5n, 6n).map((id) => (): Command => ({ type: 'leaseGrant', request: { id, ttlSeconds: 10 } })),
  fc.constantFrom(5n, 6n).map((id) => (): Command => ({ type: 'leaseRevoke', request: { id } })),
);

function build(commands: readonly ((store: Harness) => Command)[]): Harness {
  const store = new Harness();
  for (const command of commands) store.apply(command(store)); // rejections (a compacted revision, an unknown lease) are part of the history too
  return store;
}

/** Everything a read can observe of a store, for comparing two of them. */
function observable(machine: StoreStateMachine): unknown {
  return {
    applied: machine.appliedIndex,
    revision: machine.revision,
    compactRevision: machine.compactRevision,
    usedBytes: machine.usedBytes,
    keyCount: machine.keyCount,
    leases: machine.leases(),
    leaseKeys: machine.leases().map((lease) => machine.leaseKeys(lease.id)),
    hash: machine.hash(),
    range: machine.range({ key: bytes('\0'), rangeEnd: bytes('\0') }),
    history: machine.history({ key: bytes('\0'), rangeEnd: bytes('\0'), startRevision: Math.max(1, machine.compactRevision) }),
    bytes: machine.snapshot(),
  };
}

/** Restores `snapshot` in steps whose budgets cycle through `budgets`. */
function restoreInSteps(snapshot: Uint8Array, budgets: readonly number[], into = new StoreStateMachine()): { machine: StoreStateMachine; steps: number } {
  const restore = into.beginRestore(snapshot);
  let steps = 0;
  while (!restore.step(budgets[steps++ % budgets.length]!));
  return { machine: into, steps };
}

it('restored in steps of any size, a snapshot gives the state a one-shot restore gives, byte for byte', () => {
  fc.assert(
    fc.property(fc.array(commandArbitrary, { maxLength: 120 }), fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 8 }), (commands, budgets) => {
      const source = build(commands);
      const snapshot = source.machine.snapshot();
      const oneShot = new StoreStateMachine();
      oneShot.restore(snapshot);
      const { machine } = restoreInSteps(snapshot, budgets);
      assert.deepEqual(observable(machine), observable(oneShot));
      assert.deepEqual(machine.snapshot(), snapshot);
      // And both go on alike: the same commands after the restore give the same bytes.
      const after = [new Harness(machine), new Harness(oneShot)];
      const applied = machine.appliedIndex;
      for (const harness of after) {
        harness.index = applied;
        for (const command of commands.slice(0, 10)) harness.apply(command(harness));
      }
      assert.deepEqual(after[0]!.machine.snapshot(), after[1]!.machine.snapshot());
    }),
    { numRuns: 150 },
  );
});

it('a large state restores in many steps, each bounded, to the same bytes', () => {
  const store = new Harness();
  store.ok({ type: 'leaseGrant', request: { id: 9n, ttlSeconds: 60 } });
  for (let i = 0; i < 5000; i++) store.ok({ type: 'put', request: { key: bytes(`key/${(i * 7919) % 3000}`), value: bytes(`v${i}`), lease: i % 11 === 0 ? 9n : 0n } });
  store.ok({ type: 'compact', request: { revision: 2000 } });
  const snapshot = store.machine.snapshot();
  const { machine, steps } = restoreInSteps(snapshot, [100]);
  assert.ok(steps > 50, `${steps} steps`);
  assert.deepEqual(machine.snapshot(), snapshot);
  assert.deepEqual(machine.leaseKeys(9n), store.machine.leaseKeys(9n));
});

it('until the last step, reads see the old state whole, and applying is refused', () => {
  const old = new Harness();
  old.put('a', 'old');
  const source = new Harness();
  for (let i = 0; i < 50; i++) source.put(`b${i}`, 'new');
  const restore = old.machine.beginRestore(source.machine.snapshot());
  assert.equal(restore.step(10), false);
  assert.equal(old.machine.restoring, true);
  assert.deepEqual(old.list('\0', '\0'), ['a=old']);
  assert.equal(old.machine.appliedIndex, 1);
  assert.throws(() => old.put('c', 'x'), StoreAssertionError);
  while (!restore.step(10));
  assert.equal(old.machine.restoring, false);
  assert.equal(old.machine.appliedIndex, 50);
  assert.equal(old.list('\0', '\0').length, 50);
});

it('damaged bytes fail a stepped restore as a one-shot one fails, and leave the state as it was', () => {
  const source = new Harness();
  for (let i = 0; i < 300; i++) source.put(`k${i}`, `value ${i}`);
  const snapshot = source.machine.snapshot();
  for (const at of [0, 7, 20, Math.floor(snapshot.length / 2), snapshot.length - 6, snapshot.length - 1]) {
    const damaged = snapshot.slice();
    damaged[at]! ^= 0x40;
    const oneShot = new Harness();
    oneShot.put('x', 'kept');
    const oneShotError = (() => {
      try {
        oneShot.machine.restore(damaged);
      } catch (error) {
        return error;
      }
      return undefined;
    })();
    assert.ok(oneShotError instanceof MalformedBytesError, `byte ${at}`);
    const stepped = new Harness();
    stepped.put('x', 'kept');
    assert.throws(() => restoreInSteps(damaged, [7], stepped.machine), (error: unknown) => error instanceof MalformedBytesError && error.message === oneShotError.message);
    assert.deepEqual(stepped.list('\0', '\0'), ['x=kept']);
    assert.equal(stepped.machine.restoring, false);
    stepped.put('y', 'applies again');
  }
});

it('a newer restore supersedes an unfinished one', () => {
  const source = new Harness();
  for (let i = 0; i < 100; i++) source.put(`k${i}`, 'v');
  const machine = new StoreStateMachine();
  const first = machine.beginRestore(source.machine.snapshot());
  first.step(5);
  const second = machine.beginRestore(source.machine.snapshot());
  assert.throws(() => first.step(5), StoreAssertionError);
  while (!second.step(5));
  assert.equal(machine.keyCount, 100);
});

it('the incremental merge sort sorts as a stable Array.prototype.sort does, at any budget', () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: 50 }), { maxLength: 5000 }), fc.integer({ min: 1, max: 3000 }), (values, budget) => {
      const items = values.map((value, position) => ({ value, position }));
      const expected = items.slice().sort((a, b) => a.value - b.value);
      const sort = new IncrementalMergeSort(items, (a, b) => a.value - b.value);
      let steps = 0;
      while (!sort.step(budget)) assert.ok(++steps < 1_000_000);
      assert.deepEqual(sort.sorted, expected);
    }),
    { numRuns: 60 },
  );
});
