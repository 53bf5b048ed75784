import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Criticality, CRITICALITY_LEVELS, criticalityRank, DEFAULT_CRITICALITY, isAtLeast, parseCriticality } from '../../src/resilience/criticality.js';

test('four levels, most critical first; default CRITICAL as in Google RPC', () => {
  assert.deepEqual(CRITICALITY_LEVELS, ['CRITICAL_PLUS', 'CRITICAL', 'SHEDDABLE_PLUS', 'SHEDDABLE']);
  assert.equal(DEFAULT_CRITICALITY, Criticality.CRITICAL);
  assert.equal(criticalityRank(Criticality.CRITICAL_PLUS), 0);
  assert.equal(criticalityRank(Criticality.SHEDDABLE), 3);
  assert.ok(isAtLeast(Criticality.CRITICAL_PLUS, Criticality.CRITICAL));
  assert.ok(!isAtLeast(Criticality.SHEDDABLE, Criticality.SHEDDABLE_PLUS));
});

test('parses header spellings and rejects unknown values', () => {
  assert.equal(parseCriticality('critical-plus'), 'CRITICAL_PLUS');
  assert.equal(parseCriticality(' Sheddable '), 'SHEDDABLE');
  assert.equal(parseCriticality('urgent'), undefined);
  assert.equal(parseCriticality(undefined), undefined);
});
