/**
 * The MVCC store against a dumb reference: a list of every write ever made,
 * where the state at revision R is recomputed by replaying the writes with
 * main <= R. Compaction in the model only moves the compacted revision; the
 * store must answer every read at or after it exactly as the full history does.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { StoreStateMachine } from '../../src/store/index.js';
import type { Command, Compare, RangeRequest, RequestOp, SortOrder, SortTarget, TxnRequest } from '../../src/store/index.js';
import { bytes, Harness, text } from './helpers.js';

interface Write {
  main: number;
  sub: number;
  key: string;
  value: string | null;
}

interface ModelKv {
  key: string;
  value: string;
  create: number;
  mod: number;
  version: number;
}

interface Span {
  key: string;
  end: string | undefined;
}

function inSpan(span: Span, key: string): boolean {
  if (span.end === undefined || span.end === '') return key === span.key;
  if (span.end === '\0') return key >= span.key;
  return key >= span.key && key < span.end;
}

class Model {
  writes: Write[] = [];
  revision = 1;
  compactRevision = 0;

  stateAt(revision: number): Map<string, ModelKv> {
    const state = new Map<string, ModelKv>();
    for (const write of this.writes) {
      if (write.main > revision) break;
      if (write.value === null) {
        state.delete(write.key);
        continue;
      }
      const live = state.get(write.key);
      state.set(write.key, { key: write.key, value: write.value, create: live?.create ?? write.main, mod: write.main, version: (live?.version ?? 0) + 1 });
    }
    return state;
  }

  live(span: Span, revision: number): ModelKv[] {
    return [...this.stateAt(revision).values()].filter((kv) => inSpan(span, kv.key)).sort((a, b) => (a.key < b.key ? -1 : 1));
  }
}

const KEYS = ['a', 'ab', 'b', 'ba', 'c', 'c\0'];
const ENDS = [undefined, '\0', 'b', 'c', 'z', 'a'];
const VALUES = ['', 'x', 'y', 'zz'];
const key = fc.constantFrom(...KEYS);
const end = fc.constantFrom(...ENDS);
const value = fc.constantFrom(...VALUES);

const rangeOp = fc.record({
  key,
  end,
  limit: fc.integer({ min: 0, max: 3 }),
  sortOrder: fc.constantFrom<SortOrder>('NONE', 'ASCEND', 'DESCEND'),
  sortTarget: fc.constantFrom<SortTarget>('KEY', 'VERSION', 'CREATE', 'MOD', 'VALUE'),
  revisionBack: fc.integer({ min: 0, max: 4 }),
});
type RangeSpec = typeof rangeOp extends fc.Arbitrary<infer T> ? T : never;

const op = fc.oneof(
  fc.record({ kind: fc.constant('put' as const), key, value }),
  fc.record({ kind: fc.constant('delete' as const), key, end }),
  fc.record({ kind: fc.constant('range' as const), range: rangeOp }),
);
type OpSpec = typeof op extends fc.Arbitrary<infer T> ? T : never;

const compare = fc.record({
  key,
  end,
  target: fc.constantFrom('VERSION', 'CREATE', 'MOD', 'VALUE'),
  result: fc.constantFrom('EQUAL', 'GREATER', 'LESS', 'NOT_EQUAL'),
  number: fc.integer({ min: 0, max: 8 }),
  value,
});
type CompareSpec = typeof compare extends fc.Arbitrary<infer T> ? T : never;

const step = fc.oneof(
  { weight: 4, arbitrary: op.filter((spec) => spec.kind !== 'range') },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('txn' as const), compare: fc.array(compare, { maxLength: 2 }), success: fc.array(op, { maxLength: 4 }), failure: fc.array(op, { maxLength: 3 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('compact' as const), back: fc.integer({ min: -1, max: 6 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('read' as const), range: rangeOp }) },
);
type StepSpec = typeof step extends fc.Arbitrary<infer T> ? T : never;

function rangeRequest(spec: RangeSpec, revision: number): RangeRequest {
  return {
    key: bytes(spec.key),
    ...(spec.end === undefined ? {} : { rangeEnd: bytes(spec.end) }),
    limit: spec.limit,
    sortOrder: spec.sortOrder,
    sortTarget: spec.sortTarget,
    revision: spec.revisionBack === 0 ? 0 : Math.max(1, revision - spec.revisionBack),
  };
}

function toRequestOp(spec: OpSpec, revision: number): RequestOp {
  switch (spec.kind) {
    case 'put':
      return { type: 'put', request: { key: bytes(spec.key), value: bytes(spec.value), prevKv: true } };
    case 'delete':
      return { type: 'deleteRange', request: { key: bytes(spec.key), ...(spec.end === undefined ? {} : { rangeEnd: bytes(spec.end) }), prevKv: true } };
    case 'range':
      return { type: 'range', request: rangeRequest(spec.range, revision) };
  }
}

function toCompare(spec: CompareSpec): Compare {
  const base = { key: bytes(spec.key), ...(spec.end === undefined ? {} : { rangeEnd: bytes(spec.end) }), result: spec.result } as Compare;
  switch (spec.target) {
    case 'VALUE':
      return { ...base, target: 'VALUE', value: bytes(spec.value) };
    case 'VERSION':
      return { ...base, target: 'VERSION', version: spec.number };
    case 'CREATE':
      return { ...base, target: 'CREATE', createRevision: spec.number };
    default:
      return { ...base, target: 'MOD', modRevision: spec.number };
  }
}

/** etcd's range semantics over the model: count before limit, stable sort with key order on ties. */
function modelRange(model: Model, request: RangeRequest, current: number): { keys: string[]; more: boolean; count: number } | string {
  const revision = request.revision ?? 0;
  if (revision > current) return 'KEEL_STORE_FUTURE_REVISION';
  const at = revision <= 0 ? current : revision;
  if (at < model.compactRevision) return 'KEEL_STORE_COMPACTED';
  const all = model.live({ key: text(request.key), end: request.rangeEnd === undefined ? undefined : text(request.rangeEnd) }, at);
  // etcd's quirk: with order NONE (and no filters) it fetches only limit + 1 keys in key order before sorting.
  const kvs = (request.sortOrder ?? 'NONE') === 'NONE' && (request.limit ?? 0) > 0 ? all.slice(0, request.limit! + 1) : all;
  const target = request.sortTarget ?? 'KEY';
  const order = request.sortOrder ?? 'NONE';
  const field = (kv: ModelKv): string | number =>
    target === 'KEY' ? kv.key : target === 'VALUE' ? kv.value : target === 'VERSION' ? kv.version : target === 'CREATE' ? kv.create : kv.mod;
  if (order !== 'NONE' || target !== 'KEY') {
    const sign = order === 'DESCEND' ? -1 : 1;
    kvs.sort((a, b) => (field(a) < field(b) ? -sign : field(a) > field(b) ? sign : 0));
  }
  const limit = request.limit ?? 0;
  const shown = limit > 0 ? kvs.slice(0, limit) : kvs;
  return { keys: shown.map((kv) => `${kv.key}=${kv.value}@${kv.create}/${kv.mod}/${kv.version}`), more: shown.length < kvs.length, count: all.length };
}

function storeRange(machine: StoreStateMachine, request: RangeRequest): { keys: string[]; more: boolean; count: number } | string {
  try {
    const response = machine.range(request);
    return { keys: response.kvs.map((kv) => `${text(kv.key)}=${text(kv.value)}@${kv.createRevision}/${kv.modRevision}/${kv.version}`), more: response.more, count: response.count };
  } catch (error) {
    return (error as { code: string }).code;
  }
}

function modelCompare(model: Model, spec: CompareSpec, revision: number): boolean {
  const kvs = model.live({ key: spec.key, end: spec.end }, revision);
  if (kvs.length === 0 && spec.target === 'VALUE') return false;
  const subjects: (ModelKv | undefined)[] = kvs.length === 0 ? [undefined] : kvs;
  return subjects.every((kv) => {
    const left = spec.target === 'VALUE' ? (kv?.value ?? '') : spec.target === 'VERSION' ? (kv?.version ?? 0) : spec.target === 'CREATE' ? (kv?.create ?? 0) : (kv?.mod ?? 0);
    const right = spec.target === 'VALUE' ? spec.value : spec.number;
    const order = left < right ? -1 : left > right ? 1 : 0;
    return spec.result === 'EQUAL' ? order === 0 : spec.result === 'NOT_EQUAL' ? order !== 0 : spec.result === 'GREATER' ? order > 0 : order < 0;
  });
}

/** Runs ops on the model at revision model.revision + 1; returns a transcript comparable with the store's responses. */
function modelOps(model: Model, ops: OpSpec[], transcript: string[]): void {
  const main = model.revision + 1;
  for (const spec of ops) {
    const pending = model.writes.some((write) => write.main === main);
    const readRevision = pending ? main : model.revision;
    const sub = () => model.writes.filter((write) => write.main === main).length;
    if (spec.kind === 'put') {
      const previous = model.stateAt(readRevision).get(spec.key);
      model.writes.push({ main, sub: sub(), key: spec.key, value: spec.value });
      transcript.push(`put prev=${previous?.value ?? '-'}`);
    } else if (spec.kind === 'delete') {
      const live = model.live({ key: spec.key, end: spec.end }, readRevision);
      for (const kv of live) model.writes.push({ main, sub: sub(), key: kv.key, value: null });
      transcript.push(`delete ${live.map((kv) => kv.key).join(',')}`);
    } else {
      const result = modelRange(model, rangeRequest(spec.range, main - 1), readRevision);
      transcript.push(`range ${JSON.stringify(result)}`);
    }
  }
}

function storeTranscript(responses: readonly { type: string; response: unknown }[], transcript: string[]): void {
  for (const op of responses) {
    if (op.type === 'put') {
      const prevKv = (op.response as { prevKv?: { value: Uint8Array } }).prevKv;
      transcript.push(`put prev=${prevKv ? text(prevKv.value) : '-'}`);
    } else if (op.type === 'deleteRange') {
      transcript.push(`delete ${(op.response as { prevKvs: { key: Uint8Array }[] }).prevKvs.map((kv) => text(kv.key)).join(',')}`);
    } else {
      const response = op.response as { kvs: { key: Uint8Array; value: Uint8Array; createRevision: number; modRevision: number; version: number }[]; more: boolean; count: number };
      const keys = response.kvs.map((kv) => `${text(kv.key)}=${text(kv.value)}@${kv.createRevision}/${kv.modRevision}/${kv.version}`);
      transcript.push(`range ${JSON.stringify({ keys, more: response.more, count: response.count })}`);
    }
  }
}

function checkStep(model: Model, store: Harness, spec: StepSpec): void {
  const machine = store.machine;
  if (spec.kind === 'read') {
    const request = rangeRequest(spec.range, model.revision);
    assert.deepEqual(storeRange(machine, request), modelRange(model, request, model.revision));
    return;
  }
  if (spec.kind === 'compact') {
    const revision = model.revision - spec.back;
    const result = store.apply({ type: 'compact', request: { revision } });
    const expected = revision <= model.compactRevision ? 'KEEL_STORE_COMPACTED' : revision > model.revision ? 'KEEL_STORE_FUTURE_REVISION' : 'applied';
    assert.equal(result.status === 'rejected' ? result.error.code : result.status, expected);
    if (expected === 'applied') model.compactRevision = revision;
    return;
  }
  const txn: TxnRequest =
    spec.kind === 'txn'
      ? { compare: spec.compare.map(toCompare), success: spec.success.map((o) => toRequestOp(o, model.revision)), failure: spec.failure.map((o) => toRequestOp(o, model.revision)) }
      : { compare: [], success: [toRequestOp(spec, model.revision)], failure: [] };
  const expectedTranscript: string[] = [];
  const succeeded = spec.kind === 'txn' ? spec.compare.every((c) => modelCompare(model, c, model.revision)) : true;
  const expectedOps = spec.kind === 'txn' ? (succeeded ? spec.success : spec.failure) : [spec];
  const modelBefore = model.writes.length;
  modelOps(model, expectedOps, expectedTranscript);
  const compacted = expectedTranscript.some((line) => line.includes('KEEL_STORE_'));
  const command: Command = { type: 'txn', request: txn };
  const result = store.apply(command);
  if (compacted) {
    // A range inside the txn read a compacted or future revision: the whole command is rejected.
    model.writes.length = modelBefore;
    assert.equal(result.status, 'rejected');
    return;
  }
  if (model.writes.length > modelBefore) model.revision++;
  assert.equal(result.status, 'applied', result.status === 'rejected' ? result.error.message : '');
  if (result.status !== 'applied' || result.response.type !== 'txn') return;
  assert.equal(result.response.response.succeeded, succeeded);
  assert.equal(result.response.response.header.revision, model.revision);
  const actualTranscript: string[] = [];
  storeTranscript(result.response.response.responses, actualTranscript);
  assert.deepEqual(actualTranscript, expectedTranscript);
}

function checkAllRevisions(model: Model, machine: StoreStateMachine): void {
  assert.equal(machine.revision, model.revision);
  assert.equal(machine.compactRevision, model.compactRevision);
  for (let revision = 0; revision <= model.revision + 1; revision++) {
    const request: RangeRequest = { key: bytes('\0'), rangeEnd: bytes('\0'), revision };
    assert.deepEqual(storeRange(machine, request), modelRange(model, request, model.revision), `range at ${revision}`);
  }
}

function checkHistory(model: Model, machine: StoreStateMachine): void {
  const start = Math.max(model.compactRevision + 1, 1);
  const expected = model.writes
    .filter((write) => write.main >= start)
    .map((write) => {
      const previous = [...model.writes].reverse().find((other) => other.key === write.key && (other.main < write.main || (other.main === write.main && other.sub < write.sub)));
      return `${write.value === null ? 'DELETE' : 'PUT'} ${write.key}@${write.main} prev=${previous?.value ?? '-'}`;
    });
  const actual = machine
    .history({ key: bytes('\0'), rangeEnd: bytes('\0'), startRevision: start, prevKv: true, eventsMax: 1_000_000 })
    .events.map((event) => `${event.type} ${text(event.kv.key)}@${event.kv.modRevision} prev=${event.prevKv ? text(event.prevKv.value) : '-'}`);
  assert.deepEqual(actual, expected);
}

test('the MVCC store answers like a brute-force history, across txns and compaction', () => {
  fc.assert(
    fc.property(fc.array(step, { minLength: 1, maxLength: 30 }), (steps) => {
      const model = new Model();
      const store = new Harness();
      for (const spec of steps) checkStep(model, store, spec);
      checkAllRevisions(model, store.machine);
      checkHistory(model, store.machine);
      const restored = new StoreStateMachine();
      restored.restore(store.machine.snapshot());
      checkAllRevisions(model, restored);
      assert.deepEqual(restored.hash(), store.machine.hash());
      assert.deepEqual(restored.snapshot(), store.machine.snapshot());
    }),
    { numRuns: Number(process.env.STORE_MODEL_RUNS ?? 300) },
  );
});

/** A Harness that keeps every command it applied, to apply them again elsewhere. */
class RecordingHarness extends Harness {
  readonly commands: Command[] = [];

  override apply(command: Command): ReturnType<Harness['apply']> {
    this.commands.push(command);
    return super.apply(command);
  }
}

test('a compaction dropped in steps (compactInSteps) answers the same, read between any two steps, and ends as one done at once', () => {
  let runsWithCompactionUnderWay = 0;
  fc.assert(
    fc.property(fc.array(fc.tuple(step, fc.nat({ max: 3 })), { minLength: 1, maxLength: 30 }), (pairs) => {
      const model = new Model();
      const stepped = new RecordingHarness(new StoreStateMachine({ compactInSteps: true }));
      let underWay = false;
      for (const [spec, budget] of pairs) {
        checkStep(model, stepped, spec);
        underWay ||= stepped.machine.compacting;
        // A few log positions per step at most (0: none), so a compaction stays under way across later writes and reads.
        stepped.machine.compactStep(budget);
      }
      underWay ||= stepped.machine.compacting;
      if (underWay) runsWithCompactionUnderWay++;
      checkAllRevisions(model, stepped.machine);
      checkHistory(model, stepped.machine);
      // A snapshot finishes what is left; the result is byte for byte what a store that compacts at once holds.
      const atOnce = new Harness();
      for (const command of stepped.commands) atOnce.apply(command);
      assert.deepEqual(stepped.machine.snapshot(), atOnce.machine.snapshot());
      assert.equal(stepped.machine.compacting, false);
      assert.equal(stepped.machine.usedBytes, atOnce.machine.usedBytes);
      assert.deepEqual(stepped.machine.hash(), atOnce.machine.hash());
    }),
    { numRuns: Number(process.env.STORE_MODEL_RUNS ?? 300) },
  );
  assert.ok(runsWithCompactionUnderWay > 0, 'no run had a compaction under way: the property tested nothing new');
});
