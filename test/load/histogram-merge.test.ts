import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { IntervalRecorder, MetricTotals, combineSnapshots } from '../../src/load/metrics.js';
import { percentileMs } from '../../src/load/histogram.js';

const PERCENTILES = [0, 50, 90, 99, 99.9, 100];

test('merged histograms give exactly the percentiles of one histogram fed every sample', () => {
  fc.assert(
    fc.property(fc.array(fc.array(fc.double({ min: 0.001, max: 100_000, noNaN: true }), { maxLength: 200 }), { minLength: 1, maxLength: 6 }), (workers) => {
      const single = new IntervalRecorder();
      const snapshots = workers.map((samples) => {
        const worker = new IntervalRecorder();
        for (const sample of samples) {
          worker.trend('http_req_duration', sample);
          single.trend('http_req_duration', sample);
        }
        const snapshot = worker.snapshot();
        worker.destroy();
        return snapshot;
      });
      const merged = new MetricTotals();
      merged.add(combineSnapshots(snapshots));
      const reference = new MetricTotals();
      reference.add(single.snapshot());
      single.destroy();
      const mergedHistogram = merged.trends.get('http_req_duration');
      const referenceHistogram = reference.trends.get('http_req_duration');
      if (referenceHistogram === undefined) {
        assert.equal(mergedHistogram, undefined);
      } else {
        assert.ok(mergedHistogram !== undefined);
        assert.equal(mergedHistogram.totalCount, referenceHistogram.totalCount);
        for (const percentile of PERCENTILES) assert.equal(percentileMs(mergedHistogram, percentile), percentileMs(referenceHistogram, percentile), `p${percentile}`);
        assert.equal(mergedHistogram.maxValue, referenceHistogram.maxValue);
      }
      merged.destroy();
      reference.destroy();
    }),
    { numRuns: 60 },
  );
});

test('counters, rates and checks add; gauges of one interval sum across workers', () => {
  const a = new IntervalRecorder();
  const b = new IntervalRecorder();
  a.counter('http_reqs', 3);
  b.counter('http_reqs', 4);
  a.rate('http_req_failed', true);
  b.rate('http_req_failed', false);
  a.check('ok', true);
  b.check('ok', false);
  a.gauge('vus', 10);
  b.gauge('vus', 5);
  const combined = combineSnapshots([a.snapshot(), b.snapshot()]);
  assert.equal(combined.counters.http_reqs, 7);
  assert.deepEqual(combined.rates.http_req_failed, [1, 2]);
  assert.deepEqual(combined.checks.ok, [1, 1]);
  assert.deepEqual(combined.rates.checks, [1, 2]);
  assert.equal(combined.gauges.vus, 15);
});
