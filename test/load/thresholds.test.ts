import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IntervalRecorder, MetricTotals, type MetricsSnapshot } from '../../src/load/metrics.js';
import { parseThresholds, ThresholdJudge } from '../../src/load/thresholds.js';
import { parseOptions } from '../../src/load/options.js';

/** One second of traffic: `count` requests at `latencyMs`, `failed` of them failed. */
function second(latencyMs: number, count = 100, failed = 0): MetricsSnapshot {
  const recorder = new IntervalRecorder();
  for (let index = 0; index < count; index++) {
    recorder.trend('http_req_duration', latencyMs);
    recorder.counter('http_reqs');
    recorder.rate('http_req_failed', index < failed);
  }
  const snapshot = recorder.snapshot();
  recorder.destroy();
  return snapshot;
}

function judgeRun(thresholds: Parameters<typeof parseThresholds>[0], seconds: readonly MetricsSnapshot[]): { judge: ThresholdJudge; totals: MetricTotals; abortedAt: number | undefined } {
  const judge = new ThresholdJudge(parseThresholds(thresholds));
  const totals = new MetricTotals();
  let abortedAt: number | undefined;
  seconds.forEach((interval, index) => {
    totals.add(interval);
    if (judge.tick(interval, totals, (index + 1) * 1000) !== undefined) abortedAt ??= index + 1;
  });
  return { judge, totals, abortedAt };
}

test('k6 threshold syntax parses; errors name the metric and expression', () => {
  const parsed = parseThresholds({ http_req_duration: ['p(99)<200', 'avg<=50 over 30s'], checks: ['rate>0.99'], dropped_iterations: ['count<1'] });
  assert.equal(parsed.length, 4);
  assert.deepEqual(parsed[0]!.aggregation, { kind: 'p', percentile: 99 });
  assert.equal(parsed[1]!.windowSeconds, 30);
  assert.throws(() => parseThresholds({ http_req_duration: ['p99<200'] }), (error: { code: string; message: string }) => error.code === 'KEEL_LOAD_BAD_INPUT' && error.message.includes('thresholds.http_req_duration.0'));
  assert.throws(() => parseThresholds({ checks: ['p(99)<1'] }), /does not apply to checks/);
  assert.throws(() => parseThresholds({ http_req_duration: ['p(99)<1 over 20m'] }), /window/);
  assert.throws(() => parseOptions({ thresholds: { http_req_duration: 'p(99)<1' } }), /thresholds\.http_req_duration/);
});

test('a whole-run threshold judges the totals at the end', () => {
  const { judge, totals } = judgeRun({ http_req_duration: ['p(99)<200'], http_req_failed: ['rate<0.01'], http_reqs: ['count>=300'] }, [second(10), second(10), second(10, 100, 1)]);
  const results = judge.results(totals, 3000);
  assert.deepEqual(results.map((result) => result.ok), [true, true, true]);
  const slow = judgeRun({ http_req_duration: ['p(99)<200'] }, [second(10), second(500), second(10)]);
  assert.equal(slow.judge.results(slow.totals, 3000)[0]!.ok, false);
});

test('a sliding window catches a stall the whole-run percentile hides', () => {
  // 60 s at 10 ms, a 2 s stall at 900 ms, 10 s at 10 ms: 2.8% of the run is slow, so the run's p(95) is 10 ms
  // and passes, while the 5 s window holding the stall fails the moment it comes.
  const run = [...Array.from({ length: 60 }, () => second(10)), second(900), second(900), ...Array.from({ length: 10 }, () => second(10))];
  const { judge, totals } = judgeRun({ http_req_duration: ['p(95)<200', 'p(95)<200 over 5s'] }, run);
  const [whole, windowed] = judge.results(totals, run.length * 1000);
  assert.equal(whole!.ok, true);
  assert.equal(windowed!.ok, false);
  assert.equal(windowed!.failedAtSeconds, 61);
  assert.ok(windowed!.value! >= 900);
});

test('abortOnFail aborts at the first failing window once delayAbortEval has passed', () => {
  const run = [second(900), second(900), second(10), second(10), second(900), second(900), second(900)];
  const early = judgeRun({ http_req_duration: [{ threshold: 'p(99)<200 over 2s', abortOnFail: true }] }, run);
  assert.equal(early.abortedAt, 1);
  const delayed = judgeRun({ http_req_duration: [{ threshold: 'p(99)<200 over 2s', abortOnFail: true, delayAbortEval: '3s' }] }, run);
  // Seconds 3 and 4 judge windows [900,10] (fails: p99 of the window is 900) — at 3 s the window is seconds 2-3.
  assert.equal(delayed.abortedAt, 3);
  const later = judgeRun({ http_req_duration: [{ threshold: 'p(99)<200 over 2s', abortOnFail: true, delayAbortEval: '4s' }] }, run);
  assert.equal(later.abortedAt, 5, 'the window at 4 s holds two fast seconds and passes; at 5 s it fails');
  const whole = judgeRun({ http_req_failed: [{ threshold: 'rate<0.5', abortOnFail: true }] }, [second(10, 100, 0), second(10, 100, 100), second(10, 100, 100)]);
  assert.equal(whole.abortedAt, 2, 'the whole-run failure rate reaches 0.5 in the second second');
});

test('thresholds on counters that never counted pass as zero; empty trends report no data', () => {
  const { judge, totals } = judgeRun({ dropped_iterations: ['count<1'], http_req_duration: ['p(99)<1'] }, [second(10, 0)]);
  const results = judge.results(totals, 1000);
  assert.equal(results[0]!.ok, true);
  assert.equal(results[0]!.value, 0);
  assert.equal(results[1]!.value, undefined);
});
