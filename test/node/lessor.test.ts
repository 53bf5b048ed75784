import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { Lessor } from '../../src/node/lessor.js';

test('remainingSeconds truncates like etcd\'s LeaseTimeToLive; -1 once expired or unknown', () => {
  let nowMs = 1_000_000;
  const lessor = new Lessor(() => nowMs);
  lessor.promote([]);
  lessor.granted(7n, 5);
  assert.equal(lessor.remainingSeconds(7n), 5, 'exactly 5 s left');
  nowMs += 1;
  assert.equal(lessor.remainingSeconds(7n), 4, '4.999 s left reads 4, as etcd');
  nowMs += 4_000;
  assert.equal(lessor.remainingSeconds(7n), 0, 'alive with 0.999 s left reads 0');
  assert.equal(lessor.renew(7n), 5, 'a keep-alive answers the granted TTL');
  assert.equal(lessor.remainingSeconds(7n), 5);
  nowMs += 5_000;
  assert.equal(lessor.remainingSeconds(7n), -1, 'at the deadline it is expired');
  assert.equal(lessor.remainingSeconds(8n), -1, 'unknown');
});
