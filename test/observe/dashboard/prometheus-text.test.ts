import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addBuckets, bucketIncrease, bucketsOf, parsePrometheusText, quantileOf, sumOf } from '../../../src/observe/dashboard/prometheus-text.js';
import { Ring } from '../../../src/observe/dashboard/ring.js';
import { CounterRates } from '../../../src/observe/dashboard/rates.js';

const TEXT = [
  '# HELP keel_gateway_requests_total Requests answered',
  '# TYPE keel_gateway_requests_total counter',
  'keel_gateway_requests_total{route="store",cluster="keel",code_class="2xx"} 90',
  'keel_gateway_requests_total{route="store",cluster="keel",code_class="5xx"} 10',
  'odd_label{path="a \\"quoted\\", comma",b="x"} 1.5e3',
  'no_labels 7 1700000000000',
  'broken{ 3',
  'not a sample line',
  'h_bucket{le="0.1"} 50',
  'h_bucket{le="0.5"} 90',
  'h_bucket{le="+Inf"} 100',
  'h_bucket{le="0.1",other="x"} 0',
  'h_bucket{le="0.5",other="x"} 0',
  'h_bucket{le="+Inf",other="x"} 0',
].join('\n');

test('the exposition parser reads samples, labels with escapes and timestamps, and skips malformed lines', () => {
  const samples = parsePrometheusText(TEXT);
  assert.equal(sumOf(samples, 'keel_gateway_requests_total'), 100);
  assert.equal(sumOf(samples, 'keel_gateway_requests_total', (labels) => labels.code_class === '5xx'), 10);
  assert.deepEqual(samples.find((sample) => sample.name === 'odd_label')?.labels, { path: 'a "quoted", comma', b: 'x' });
  assert.equal(sumOf(samples, 'odd_label'), 1500);
  assert.equal(sumOf(samples, 'no_labels'), 7);
  assert.equal(sumOf(samples, 'broken'), undefined);
  assert.equal(sumOf(samples, 'absent'), undefined);
  assert.deepEqual(bucketsOf(samples, 'h'), [{ le: 0.1, count: 50 }, { le: 0.5, count: 90 }, { le: Number.POSITIVE_INFINITY, count: 100 }]);
});

test('quantiles interpolate inside buckets as histogram_quantile does, over the increase between scrapes', () => {
  const before = [{ le: 0.1, count: 10 }, { le: 0.5, count: 10 }, { le: Number.POSITIVE_INFINITY, count: 10 }];
  const after = [{ le: 0.1, count: 60 }, { le: 0.5, count: 100 }, { le: Number.POSITIVE_INFINITY, count: 110 }];
  const increase = bucketIncrease(before, after)!;
  assert.deepEqual(increase.map((bucket) => bucket.count), [50, 90, 100]);
  assert.equal(quantileOf(increase, 0.5), 0.1); // rank 50 is the top of the first bucket
  assert.ok(Math.abs(quantileOf(increase, 0.7)! - 0.3) < 1e-9); // rank 70: halfway through (0.1, 0.5]
  assert.equal(quantileOf(increase, 0.99), 0.5); // in +Inf: the highest finite bound
  assert.equal(quantileOf([{ le: 1, count: 0 }, { le: Number.POSITIVE_INFINITY, count: 0 }], 0.5), undefined, 'nothing observed');
  assert.equal(bucketIncrease(after, before), undefined, 'a counter reset gives no quantile');
  assert.deepEqual(addBuckets([increase, increase]).map((bucket) => bucket.count), [100, 180, 200]);
});

test('the ring keeps the last items in order and no more', () => {
  const ring = new Ring<number>(3);
  for (let i = 1; i <= 5; i++) ring.push(i);
  assert.deepEqual(ring.toArray(), [3, 4, 5]);
  assert.equal(ring.size, 3);
  assert.throws(() => new Ring(0), RangeError);
});

test('counter rates: per second between polls, a gap after a reset or an unknown value', () => {
  const rates = new CounterRates();
  assert.equal(rates.rate('a', 100, 1_000), undefined);
  assert.equal(rates.rate('a', 150, 1_500), 100);
  assert.equal(rates.rate('a', 10, 2_000), undefined, 'restarted process');
  assert.equal(rates.rate('a', 20, 3_000), 10);
  assert.equal(rates.rate('a', undefined, 4_000), undefined);
  assert.equal(rates.rate('a', 30, 5_000), undefined, 'starts over after a missing value');
});
