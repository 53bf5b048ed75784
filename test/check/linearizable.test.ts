import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { checkHistory, casRegisterModel, kvModel, mutexModel, type Operation, type OperationName, type OperationType, type Scalar } from '../../src/check/index.js';
import { bruteForceLinearizable } from '../../src/check/brute-force.js';
import { simulateHistory } from '../../src/check/simulate.js';

const INFINITY = Number.POSITIVE_INFINITY;

function operation(id: number, f: OperationName, call: number, ret: number, fields: { value?: Scalar; from?: Scalar; to?: Scalar; type?: OperationType; key?: string } = {}): Operation {
  const type = fields.type ?? (ret === INFINITY ? 'info' : 'ok');
  return { id, process: String(id), call, ret: type === 'info' ? INFINITY : ret, type, f, key: fields.key ?? '', value: fields.value ?? null, ...(f === 'cas' ? { from: fields.from ?? null, to: fields.to ?? null } : {}) };
}

function verdict(operations: Operation[], fastPath: boolean): string {
  return checkHistory({ operations, source: 'test' }, { model: 'cas-register', fastPath, minimize: false }).verdict;
}

/** Tiny cas-register histories with unique written values: reads and cas expect nil or any written value, so most are violations and some are not. */
const tinyRegisterHistory = fc.array(
  fc.record({
    f: fc.constantFrom<OperationName>('read', 'write', 'cas'),
    call: fc.integer({ min: 0, max: 10 }),
    length: fc.integer({ min: 0, max: 6 }),
    type: fc.constantFrom<OperationType>('ok', 'ok', 'ok', 'info', 'fail'),
    observe: fc.integer({ min: 0, max: 6 }),
  }),
  { minLength: 1, maxLength: 6 },
).map((specs) => {
  const written = specs.flatMap((spec, index) => (spec.f === 'read' ? [] : [`v${index}`]));
  const pick = (index: number): Scalar => (index === 0 || written.length === 0 ? null : (written[(index - 1) % written.length] as string));
  return specs.map((spec, index) => {
    const ret = spec.call + spec.length;
    if (spec.f === 'write') return operation(index, 'write', spec.call, ret, { value: `v${index}`, type: spec.type });
    if (spec.f === 'cas') return operation(index, 'cas', spec.call, ret, { from: pick(spec.observe), to: `v${index}`, type: spec.type });
    return operation(index, 'read', spec.call, ret, { value: pick(spec.observe), type: spec.type });
  });
});

test('the unique-values fast path, the search and brute force agree on tiny register histories', () => {
  let violations = 0;
  fc.assert(
    fc.property(tinyRegisterHistory, (operations) => {
      const expected = bruteForceLinearizable(casRegisterModel as never, operations) ? 'ok' : 'violation';
      if (expected === 'violation') violations += 1;
      assert.equal(verdict(operations, true), expected, 'fast path');
      assert.equal(verdict(operations, false), expected, 'search');
    }),
    { numRuns: 3000, seed: 42 },
  );
  assert.ok(violations > 100 && violations < 2900, `a mix of verdicts (${violations} violations)`);
});

test('the fast path and the search agree on simulated register histories with and without a stale read', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 1_000_000 }), fc.integer({ min: 2, max: 6 }), fc.integer({ min: 5, max: 40 }), fc.boolean(), (seed, clients, count, staleRead) => {
      const simulated = simulateHistory({ seed, model: 'cas-register', clients, operations: count, staleRead, unknownWriteFraction: 0.3 });
      const fast = verdict(simulated.operations, true);
      const search = verdict(simulated.operations, false);
      assert.equal(fast, search);
      assert.equal(fast, simulated.staleReadId === undefined ? 'ok' : 'violation');
    }),
    { numRuns: 300, seed: 7 },
  );
});

test('the kv search agrees with brute force on tiny histories', () => {
  const history = fc.array(
    fc.record({ f: fc.constantFrom<OperationName>('get', 'put', 'append'), call: fc.integer({ min: 0, max: 8 }), length: fc.integer({ min: 0, max: 5 }), unknown: fc.boolean(), observe: fc.integer({ min: 0, max: 7 }) }),
    { minLength: 1, maxLength: 5 },
  ).map((specs) => {
    const texts = ['', 'a', 'b', 'ab', 'ba', 'x', 'xa', 'xb'];
    return specs.map((spec, index) => {
      const ret = spec.call + spec.length;
      if (spec.f === 'get') return operation(index, 'get', spec.call, ret, { value: texts[spec.observe] ?? '' });
      const value = spec.f === 'put' ? 'x' : index % 2 === 0 ? 'a' : 'b';
      return operation(index, spec.f, spec.call, ret, { value, type: spec.unknown ? 'info' : 'ok' });
    });
  });
  fc.assert(
    fc.property(history, (operations) => {
      const expected = bruteForceLinearizable(kvModel as never, operations) ? 'ok' : 'violation';
      assert.equal(checkHistory({ operations, source: 'test' }, { model: 'kv', minimize: false }).verdict, expected);
    }),
    { numRuns: 2000, seed: 3 },
  );
});

test('an unknown write may take effect long after its call, or never', () => {
  const late = [operation(0, 'write', 0, INFINITY, { value: 'a' }), operation(1, 'read', 10, 11, { value: null }), operation(2, 'read', 20, 21, { value: 'a' })];
  const never = [operation(0, 'write', 0, INFINITY, { value: 'a' }), operation(1, 'read', 10, 11, { value: null })];
  const notBeforeCall = [operation(0, 'read', 0, 1, { value: 'a' }), operation(1, 'write', 5, INFINITY, { value: 'a' })];
  for (const fastPath of [true, false]) {
    assert.equal(verdict(late, fastPath), 'ok');
    assert.equal(verdict(never, fastPath), 'ok');
    assert.equal(verdict(notBeforeCall, fastPath), 'violation');
  }
});

test('the kv checker splits by key: each key is checked on its own', () => {
  const operations = [
    operation(0, 'put', 0, 1, { key: 'a', value: 'x' }),
    operation(1, 'put', 0, 1, { key: 'b', value: 'y' }),
    operation(2, 'get', 2, 3, { key: 'a', value: 'x' }),
    operation(3, 'get', 2, 3, { key: 'b', value: '' }),
  ];
  const result = checkHistory({ operations, source: 'test' });
  assert.equal(result.verdict, 'violation');
  assert.equal(result.keys, 2);
  assert.equal(result.counterexample?.key, 'b');
  assert.deepEqual(result.counterexample?.operations.map((item) => item.id), [1, 3]);
});

test('an exhausted budget answers unknown, never ok, and says what was explored', () => {
  // Non-unique values force the general search; a step budget of 5 cannot finish it.
  const simulated = simulateHistory({ seed: 11, model: 'kv', clients: 8, operations: 400 });
  const steps = checkHistory({ operations: simulated.operations, source: 'test' }, { stepsMax: 5 });
  assert.equal(steps.verdict, 'unknown');
  assert.ok(steps.undecided.length > 0);
  assert.match(steps.undecided[0]?.reason ?? '', /steps budget exhausted/);
  assert.ok((steps.undecided[0]?.explored?.steps ?? 0) > 0);
  const time = checkHistory({ operations: simulated.operations, source: 'test' }, { timeLimitMs: Number.MIN_VALUE, fastPath: false });
  assert.notEqual(time.verdict, 'ok');
});

test('a hot unique-values register of 5,000 operations and 50 clients is decided by the fast path', () => {
  for (const staleRead of [false, true]) {
    const simulated = simulateHistory({ seed: 5, model: 'cas-register', clients: 50, operations: 5000, staleRead });
    const result = checkHistory({ operations: simulated.operations, source: 'test' });
    assert.equal(result.verdict, staleRead ? 'violation' : 'ok');
    assert.equal(result.methods['unique-values'], 1);
    if (staleRead) {
      assert.ok((result.counterexample?.operations.length ?? 0) <= 6, `${result.counterexample?.operations.length}`);
      assert.ok(result.counterexample?.operations.some((item) => item.id === simulated.staleReadId));
    }
  }
});

test('mutex: two holders overlapping in time are a violation, and the search agrees with brute force', () => {
  const lock = (id: number, process: string, f: OperationName, call: number, ret: number, type: OperationType = 'ok'): Operation => ({ ...operation(id, f, call, ret, { type }), process });
  const overlap = [lock(0, 'a', 'acquire', 0, 1), lock(1, 'b', 'acquire', 2, 3), lock(2, 'a', 'release', 4, 5), lock(3, 'b', 'release', 6, 7)];
  const result = checkHistory({ operations: overlap, source: 'test' });
  assert.equal(result.model, 'mutex');
  assert.equal(result.verdict, 'violation');
  const handOver = [lock(0, 'a', 'acquire', 0, 1), lock(1, 'b', 'acquire', 2, 6), lock(2, 'a', 'release', 3, 4), lock(3, 'b', 'release', 7, 8)];
  assert.equal(checkHistory({ operations: handOver, source: 'test' }).verdict, 'ok');
  const history = fc.array(
    fc.record({ process: fc.constantFrom('a', 'b', 'c'), f: fc.constantFrom<OperationName>('acquire', 'release'), call: fc.integer({ min: 0, max: 8 }), length: fc.integer({ min: 0, max: 4 }), unknown: fc.boolean() }),
    { minLength: 1, maxLength: 6 },
  ).map((specs) => specs.map((spec, index) => lock(index, spec.process, spec.f, spec.call, spec.call + spec.length, spec.unknown ? 'info' : 'ok')));
  fc.assert(
    fc.property(history, (operations) => {
      const expected = bruteForceLinearizable(mutexModel as never, operations) ? 'ok' : 'violation';
      assert.equal(checkHistory({ operations, source: 'test' }, { model: 'mutex', minimize: false }).verdict, expected);
    }),
    { numRuns: 2000, seed: 5 },
  );
});
