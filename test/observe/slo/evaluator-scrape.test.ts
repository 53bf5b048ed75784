import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SloEvaluator, ObserveError, type SloStatus } from '../../../src/observe/index.js';
import { memberSlos, startMetricsServer, type MemberCounters } from './fixtures.js';

// The scrape evaluator against two real HTTP /metrics servers whose counters the test sets (see fixtures.ts),
// with a fake clock: one scrape per fake minute, so hours of windows take a few hundred local requests.

const MINUTE_MS = 60_000;

function windowOf(status: SloStatus, window: string) {
  const found = status.windows.find((entry) => entry.window === window);
  assert.ok(found, window);
  return found;
}

function near(actual: number | null, expected: number, what: string): void {
  assert.ok(actual !== null && Math.abs(actual - expected) < 1e-9, `${what}: ${actual} != ${expected}`);
}

test('scrape evaluator: burn rates, budget and page state from two members, through a new error series, a restart and a member away and back', async () => {
  const a: MemberCounters = { ok: 0, unavailable: 0, fast: 0, down: false };
  const b: MemberCounters = { ok: 0, unavailable: 0, fast: 0, down: false };
  const servers = await Promise.all([startMetricsServer(a), startMetricsServer(b)]);
  try {
    let nowMs = 1_800_000_000_000; // a multiple of a minute: slices end on scrapes
    const evaluator = new SloEvaluator(memberSlos(), { scrapeUrls: servers.map((s) => s.url), now: () => nowMs });
    /** One fake minute: each member serves 600 calls, 95% of them within 100 ms; `errors` of A's fail. */
    const minute = async (errors: number): Promise<void> => {
      nowMs += MINUTE_MS;
      a.ok += 600 - errors;
      a.unavailable += errors;
      a.fast += 570;
      b.ok += 600;
      b.fast += 570;
      assert.deepEqual(await evaluator.scrape(), []);
    };
    assert.deepEqual(await evaluator.scrape(true), []);
    for (let m = 0; m < 120; m++) await minute(0);
    assert.equal(await evaluator.pageFiring(), false);

    // 5% errors overall (60 of A's 600 a minute, B clean). Same numbers as the promtool test:
    // 1h/5m at 14.4x holds once the 1h ratio passes 1.44% (after 17.3 minutes), 6h/30m at 6x after 16.4.
    for (let m = 0; m < 12; m++) await minute(60);
    let [availability, latency, minutes] = (await evaluator.evaluate()).slos as [SloStatus, SloStatus, SloStatus];
    near(windowOf(availability, '5m').errorRatio, 0.05, '5m error ratio');
    near(windowOf(availability, '5m').burnRate, 50, '5m burn rate');
    near(windowOf(availability, '1h').errorRatio, (12 * 60) / (60 * 1200), '1h error ratio');
    near(windowOf(availability, '5m').events, 5 * 1200, '5m events');
    assert.equal(availability.pageFiring, false);
    assert.equal(await evaluator.pageFiring(), false);
    near(windowOf(latency, '1h').errorRatio, 0.05, 'latency: 5% slower than 100 ms');
    near(windowOf(latency, '1h').burnRate, 5, 'latency burn rate against a 1% budget');
    // Timeslices: every burning minute is a bad slice (5% > 1%), the clean ones good.
    near(windowOf(minutes, '5m').errorRatio, 1, '5m: all slices bad');
    near(windowOf(minutes, '1h').errorRatio, 12 / 60, '1h: 12 bad slices of 60');

    for (let m = 0; m < 10; m++) await minute(60);
    [availability] = (await evaluator.evaluate()).slos as [SloStatus];
    assert.equal(availability.pageFiring, true, JSON.stringify(availability.windows));
    assert.equal(await evaluator.pageFiring(), true);
    // The whole history is in the period: 22 burning minutes of 142.
    near(availability.periodErrorRatio, (22 * 60) / (142 * 1200), 'period error ratio');
    near(availability.budgetRemaining, 1 - (22 * 60) / (142 * 1200) / 0.001, 'budget remaining');

    // Member A restarts: its counters start again from 0. The drop is a reset, not negative traffic.
    a.ok = 0;
    a.unavailable = 0;
    a.fast = 0;
    for (let m = 0; m < 5; m++) await minute(60);
    [availability] = (await evaluator.evaluate()).slos as [SloStatus];
    near(windowOf(availability, '5m').errorRatio, 0.05, '5m error ratio across the restart');
    near(windowOf(availability, '5m').events, 5 * 1200, '5m events across the restart');

    // Member B goes away for 3 minutes (503) and comes back; what it served meanwhile is counted when it is back.
    b.down = true;
    for (let m = 0; m < 3; m++) {
      nowMs += MINUTE_MS;
      b.ok += 600;
      b.fast += 570;
      a.ok += 540;
      a.unavailable += 60;
      a.fast += 570;
      const failures = await evaluator.scrape();
      assert.equal(failures.length, 1);
      assert.equal(failures[0]!.code, 'KEEL_OBSERVE_UNREACHABLE');
      assert.match(failures[0]!.message, new RegExp(`${servers[1]!.url.replace(/[/.]/g, '\\$&')} answered HTTP 503`));
    }
    assert.equal(evaluator.targets[1]!.up, false);
    b.down = false;
    await minute(60);
    assert.equal(evaluator.targets[1]!.up, true);
    [availability] = (await evaluator.evaluate()).slos as [SloStatus];
    near(windowOf(availability, '5m').events, 5 * 1200, '5m events after B came back');
    near(windowOf(availability, '5m').errorRatio, 0.05, '5m error ratio after B came back');
    evaluator.stop();
  } finally {
    for (const { server } of servers) server.close();
  }
});

test('scrape evaluator: an unreachable target on the first scrape is an error naming the URL; raw PromQL needs a Prometheus', async () => {
  const { server, url } = await startMetricsServer({ ok: 0, unavailable: 0, fast: 0, down: false });
  await new Promise((resolve) => server.close(resolve));
  const evaluator = new SloEvaluator(memberSlos(), { scrapeUrls: [url] });
  await assert.rejects(evaluator.scrape(true), (error: unknown) => ObserveError.is(error) && error.code === 'KEEL_OBSERVE_UNREACHABLE' && error.message.includes(url));
  const { parseSlos } = await import('../../../src/observe/index.js');
  const raw = parseSlos(`apiVersion: openslo/v1
kind: SLO
metadata: { name: raw }
spec:
  service: web
  indicator:
    metadata: { name: raw }
    spec:
      ratioMetric:
        good: { metricSource: { type: Prometheus, spec: { query: 'sum(rate(ok_total[{{.window}}]))' } } }
        total: { metricSource: { type: Prometheus, spec: { query: 'sum(rate(all_total[{{.window}}]))' } } }
  timeWindow: [{ duration: 7d }]
  budgetingMethod: Occurrences
  objectives: [{ target: 0.99 }]
`, 'raw.yaml');
  assert.throws(() => new SloEvaluator(raw, { scrapeUrls: [url] }), (error: unknown) => ObserveError.is(error) && error.code === 'KEEL_OBSERVE_UNSUPPORTED' && /--prometheus/.test(error.message));
  assert.throws(() => new SloEvaluator(raw, { prometheusUrl: 'not a url' }), (error: unknown) => ObserveError.is(error) && error.code === 'KEEL_OBSERVE_BAD_OPTION' && /prometheusUrl/.test(error.message));
});
