import { test } from 'node:test';
import assert from 'node:assert/strict';
import { noop, type Policy, type PolicyContext, toContext, wrap } from '../../src/resilience/policy.js';

function tracing(name: string, log: string[], change?: Partial<PolicyContext>): Policy {
  return {
    async execute(fn, options) {
      log.push(`${name}:in`);
      try {
        return await fn({ ...toContext(options), ...change });
      } finally {
        log.push(`${name}:out`);
      }
    },
  };
}

test('wrap runs policies outermost first and threads the context inward', async () => {
  const log: string[] = [];
  const policy = wrap(tracing('outer', log), tracing('inner', log, { attempt: 7 }));
  const controller = new AbortController();
  const seen = await policy.execute((context) => {
    log.push('fn');
    return context;
  }, { signal: controller.signal, key: 'tenant-1', deadlineMs: 99 });
  assert.deepEqual(log, ['outer:in', 'inner:in', 'fn', 'inner:out', 'outer:out']);
  assert.equal(seen.attempt, 7);
  assert.equal(seen.key, 'tenant-1');
  assert.equal(seen.deadlineMs, 99);
  assert.equal(seen.signal, controller.signal);
  assert.equal(seen.criticality, 'CRITICAL');
  assert.equal(policy.policies.length, 2);
});

test('an empty wrap and noop just run the function; a synchronous throw becomes a rejection', async () => {
  assert.equal(await wrap().execute(() => 3), 3);
  assert.equal(await noop.execute(async () => 4), 4);
  await assert.rejects(
    noop.execute(() => {
      throw new Error('sync');
    }),
    /sync/,
  );
});

test('toContext fills defaults: attempt 1, CRITICAL, a signal that never aborts', () => {
  const context = toContext({});
  assert.equal(context.attempt, 1);
  assert.equal(context.criticality, 'CRITICAL');
  assert.equal(context.signal.aborted, false);
  assert.equal(context.deadlineMs, undefined);
  assert.equal(toContext(context), context);
});
