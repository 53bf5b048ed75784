import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { renderHtmlReport } from '../../src/load/outputs/html.js';
import { parseThresholds } from '../../src/load/thresholds.js';
import type { Summary } from '../../src/load/summary.js';
import type { TimePoint } from '../../src/load/timeseries.js';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync'];

/** 60 s at 1,000 req/s with a 1 s stall every 10 s, a ramp of VUs, some dropped iterations in the stalls. */
function stallSeries(): TimePoint[] {
  return Array.from({ length: 60 }, (_, index) => {
    const stalled = index % 10 === 9;
    return { t: index + 1, requests: stalled ? 0 : 1000, failed: stalled ? 5 : 0, iterations: stalled ? 0 : 1000, dropped: stalled ? 200 : 0, vus: Math.min(200, (index + 1) * 20), p50Ms: stalled ? 500 : 2, p90Ms: stalled ? 900 : 4, p99Ms: stalled ? 1000 : 9, maxMs: stalled ? 1000 : 12, checksFailed: stalled ? 5 : 0 };
  });
}

function summary(): Summary {
  return {
    elapsedSeconds: 60,
    aborted: undefined,
    interrupted: false,
    lostWorkers: [],
    trends: { http_req_duration: { count: 54000, avg: 20, min: 0.5, med: 2, max: 1000, p90: 4, p95: 8, p99: 950 } },
    counters: { http_reqs: { count: 54000, perSecond: 900 }, dropped_iterations: { count: 1200, perSecond: 20 } },
    rates: { http_req_failed: { rate: 0.0006, trues: 30, falses: 53970 } },
    gauges: { vus: { value: 200, max: 200 } },
    checks: {},
    errors: { ECONNRESET: 30 },
    thresholds: [{ metric: 'http_req_duration', threshold: 'p(99)<200 over 10s', ok: false, value: 1000, failedAtSeconds: 10 }],
    passed: false,
  };
}

test('the HTML report is self-contained: inline SVG, no script, no external URL', () => {
  const html = renderHtmlReport(summary(), stallSeries(), parseThresholds({ http_req_duration: ['p(99)<200 over 10s'] }));
  assert.equal((html.match(/<svg /g) ?? []).length, 4);
  assert.ok(!/<script/i.test(html));
  assert.ok(!/(src|href)="https?:/i.test(html), 'no CDN');
  assert.match(html, /class="threshold"/);
});

test('the HTML report renders in headless Chromium: four charts with paths and the threshold line', async (context) => {
  if (!existsSync(CHROMIUM)) {
    context.skip(`${CHROMIUM} is missing: install Debian's chromium (apt-get install chromium) to run this test`);
    return;
  }
  const { chromium } = await import('playwright-core');
  const dir = mkdtempSync(join(tmpdir(), 'keel-load-html-'));
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 60_000 });
  try {
    const file = join(dir, 'report.html');
    writeFileSync(file, renderHtmlReport(summary(), stallSeries(), parseThresholds({ http_req_duration: ['p(99)<200 over 10s'] })));
    const page = await browser.newPage({ viewport: { width: 1000, height: 1200 } });
    const requests: string[] = [];
    page.on('request', (request) => requests.push(request.url()));
    await page.goto(`file://${file}`);
    const charts = await page.$$eval('svg.chart', (svgs) =>
      svgs.map((svg) => {
        const box = svg.getBoundingClientRect();
        const paths = [...svg.querySelectorAll('path.series')].map((path) => (path as unknown as { getTotalLength(): number }).getTotalLength());
        return { width: box.width, height: box.height, paths, thresholds: svg.querySelectorAll('line.threshold').length };
      }),
    );
    assert.equal(charts.length, 4);
    for (const chart of charts) {
      assert.ok(chart.width > 100 && chart.height > 20, `chart laid out: ${JSON.stringify(chart)}`);
      assert.ok(chart.paths.length >= 2 && chart.paths.every((length) => length > 0), `chart paths drawn: ${JSON.stringify(chart)}`);
    }
    assert.equal(charts[1]!.thresholds, 1, 'the latency threshold is drawn');
    assert.deepEqual(requests.filter((url) => !url.startsWith('file:')), [], 'nothing fetched from the network');
    if (process.env.KEEL_LOAD_SCREENSHOT !== undefined) await page.screenshot({ path: process.env.KEEL_LOAD_SCREENSHOT, fullPage: false });
  } finally {
    await browser.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
