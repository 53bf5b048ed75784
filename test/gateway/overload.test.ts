import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../../src/resilience/index.js';
import { Admission } from '../../src/gateway/admission.js';
import { parseGatewayConfig } from '../../src/gateway/config.js';
import { GatewayError } from '../../src/gateway/errors.js';

test('admission sheds sheddable traffic first and names the reason', () => {
  const config = parseGatewayConfig({
    listeners: [{ port: 0 }], routes: [{ name: 'r', cluster: 'c' }],
    clusters: { c: { endpoints: [{ address: 'x:1' }], adaptiveConcurrency: { initialLimit: 10, minLimit: 10, maxLimit: 10 } } },
  });
  const admission = new Admission(config.clusters, new FakeClock(0));
  const releases = [];
  for (let index = 0; index < 10; index++) releases.push(admission.admit('c', 'SHEDDABLE'));
  let refused: unknown;
  try {
    admission.admit('c', 'SHEDDABLE');
  } catch (error) {
    refused = error;
  }
  assert.ok(GatewayError.is(refused));
  assert.equal(refused.code, 'KEEL_GW_OVERLOADED');
  assert.equal(refused.status, 503);
  assert.equal(refused.reason, 'overloaded');
  // critical traffic still has its guaranteed share of the limit
  for (let index = 0; index < 9; index++) releases.push(admission.admit('c', 'CRITICAL'));
  assert.throws(() => admission.admit('c', 'CRITICAL'), (error: unknown) => GatewayError.is(error) && error.code === 'KEEL_GW_OVERLOADED');
  for (const release of releases) release(false);
});
