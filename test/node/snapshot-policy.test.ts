import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SNAPSHOT_LOG_BYTES_FLOOR, SNAPSHOT_LOG_BYTES_MAX, snapshotWanted } from '../../src/node/snapshot-policy.js';

const policy = { snapshotEntries: 10_000, logRatio: 0.25 };

test('before snapshotEntries entries a snapshot waits, unless the log holds SNAPSHOT_LOG_BYTES_FLOOR bytes and logRatio times the last snapshot', () => {
  assert.equal(snapshotWanted({ entriesSince: 9_999, logBytesSince: SNAPSHOT_LOG_BYTES_FLOOR - 1, lastSnapshotBytes: 0 }, policy), false);
  assert.equal(snapshotWanted({ entriesSince: 10_000, logBytesSince: 0, lastSnapshotBytes: 0 }, policy), true, 'no snapshot yet: entries alone');
  // Large values: 512 1 MiB puts are due at once, not after 10,000 of them (10 GiB of WAL to keep and replay).
  assert.equal(snapshotWanted({ entriesSince: 512, logBytesSince: SNAPSHOT_LOG_BYTES_FLOOR, lastSnapshotBytes: 0 }, policy), true);
  const last = 3 * 1024 * 1024 * 1024;
  assert.equal(snapshotWanted({ entriesSince: 200, logBytesSince: last / 4 - 1, lastSnapshotBytes: last }, policy), false, 'the ratio still holds it back');
  assert.equal(snapshotWanted({ entriesSince: 200, logBytesSince: last / 4, lastSnapshotBytes: last }, policy), true);
  assert.equal(snapshotWanted({ entriesSince: 200, logBytesSince: SNAPSHOT_LOG_BYTES_MAX, lastSnapshotBytes: 10 ** 10 }, policy), true, 'and SNAPSHOT_LOG_BYTES_MAX caps it');
  assert.equal(snapshotWanted({ entriesSince: 200, logBytesSince: SNAPSHOT_LOG_BYTES_FLOOR, lastSnapshotBytes: 10 ** 10 }, { snapshotEntries: 10_000, logRatio: 0 }), true, 'ratio 0 too');
});

test('past snapshotEntries, a snapshot also waits until the log since the last one is logRatio times its size', () => {
  const last = 200 * 1024 * 1024;
  assert.equal(snapshotWanted({ entriesSince: 10_000, logBytesSince: 13 * 1024 * 1024, lastSnapshotBytes: last }, policy), false, 'a 200 MiB state after 13 MiB of log');
  assert.equal(snapshotWanted({ entriesSince: 80_000, logBytesSince: last / 4 - 1, lastSnapshotBytes: last }, policy), false);
  assert.equal(snapshotWanted({ entriesSince: 80_000, logBytesSince: last / 4, lastSnapshotBytes: last }, policy), true);
});

test('ratio 0 is entries alone (etcd --snapshot-count); past SNAPSHOT_LOG_BYTES_MAX a snapshot is due whatever the ratio', () => {
  assert.equal(snapshotWanted({ entriesSince: 10_000, logBytesSince: 1, lastSnapshotBytes: 10 ** 10 }, { snapshotEntries: 10_000, logRatio: 0 }), true);
  assert.equal(snapshotWanted({ entriesSince: 10_000, logBytesSince: SNAPSHOT_LOG_BYTES_MAX, lastSnapshotBytes: 10 ** 10 }, policy), true);
  assert.equal(snapshotWanted({ entriesSince: 10_000, logBytesSince: SNAPSHOT_LOG_BYTES_MAX - 1, lastSnapshotBytes: 10 ** 10 }, policy), false);
});
