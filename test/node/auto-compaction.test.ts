import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AutoCompactor, autoCompactionPolicy, parseRetentionMs } from '../../src/node/auto-compaction.js';
import { QuotaWatch } from '../../src/node/quota-watch.js';
import { loadNodeConfig } from '../../src/node/config.js';

test('retention parses as etcd\'s flag: durations, or a bare number of hours', () => {
  assert.equal(parseRetentionMs('1'), 3_600_000);
  assert.equal(parseRetentionMs('30m'), 1_800_000);
  assert.equal(parseRetentionMs('1h30m'), 5_400_000);
  assert.equal(parseRetentionMs('500ms'), 500);
  assert.throws(() => parseRetentionMs('soon'), { code: 'KEEL_NODE_CONFIG_INVALID' });
  assert.equal(autoCompactionPolicy('periodic', '0', 1000), undefined);
  assert.equal(autoCompactionPolicy('revision', '0', 1000), undefined);
  assert.throws(() => autoCompactionPolicy('revision', '1h', 1000), { code: 'KEEL_NODE_CONFIG_INVALID' });
});

test('the config refuses a retention its mode cannot read', () => {
  const base = { id: 'n1', dataDir: '/tmp/x', listenPeer: '127.0.0.1:1', listenClient: '127.0.0.1:2', peers: 'n1=127.0.0.1:1' };
  assert.equal(loadNodeConfig({ ...base, autoCompactionMode: 'revision', autoCompactionRetention: '100' }, {}).autoCompactionRetention, '100');
  assert.throws(() => loadNodeConfig({ ...base, autoCompactionMode: 'revision', autoCompactionRetention: '10m' }, {}), /autoCompactionRetention/);
  assert.throws(() => loadNodeConfig({ ...base, autoCompactionMode: 'hourly' }, {}), /autoCompactionMode/);
});

test('revision mode compacts to current - N while leading, once per target', () => {
  const compactor = new AutoCompactor({ mode: 'revision', revisions: 10, checkIntervalMs: 100 }, 0);
  assert.equal(compactor.pollIntervalMs, 100);
  assert.equal(compactor.poll(100, 5, true), undefined, 'nothing to compact yet');
  assert.equal(compactor.poll(200, 25, false), undefined, 'followers never compact');
  assert.equal(compactor.poll(300, 25, true), 15);
  compactor.succeeded(300, 15);
  assert.equal(compactor.poll(400, 25, true), undefined, 'same target again');
  assert.equal(compactor.poll(500, 40, true), 30);
});

test('periodic mode compacts to the revision of one retention ago, first after one retention, then every retention', () => {
  const retentionMs = 1000;
  const compactor = new AutoCompactor({ mode: 'periodic', retentionMs }, 0);
  assert.equal(compactor.pollIntervalMs, 100);
  const decisions: { at: number; target: number }[] = [];
  // The revision grows by 10 per poll: the revision at time t is 1 + t/10.
  for (let at = 100; at <= 3000; at += 100) {
    const target = compactor.poll(at, 1 + at / 10, true);
    if (target !== undefined) {
      decisions.push({ at, target });
      compactor.succeeded(at, target);
    }
  }
  assert.deepEqual(decisions[0], { at: 1000, target: 11 }, 'the oldest sample in a window of 11 polls');
  assert.deepEqual(decisions.map((d) => d.at), [1000, 2000, 3000]);
  // Later windows are full (11 samples, one retention apart at the ends): exactly the revision of one retention ago.
  for (const { at, target } of decisions.slice(1)) assert.equal(target, 1 + (at - retentionMs) / 10);
});

test('the quota warning fires once per upward crossing of 80%', () => {
  const watch = new QuotaWatch();
  const crossings = [10, 79, 80, 90, 95, 50, 85, 86].map((used) => watch.observe(used, 100).crossed);
  assert.deepEqual(crossings, [false, false, true, false, false, false, true, false]);
  assert.equal(watch.observe(50, 100).ratio, 0.5);
});
