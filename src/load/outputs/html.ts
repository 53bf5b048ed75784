/**
 * `--out html=FILE`: a self-contained report (inline SVG and CSS, no script,
 * no CDN): throughput, latency percentiles over time, errors, VUs and
 * dropped iterations, with latency thresholds drawn at their bound, then the
 * summary tables.
 */
import type { Summary } from '../summary.js';
import type { Threshold } from '../thresholds.js';
import type { TimePoint } from '../timeseries.js';
import { lineChart } from './svg-chart.js';

const escape = (text: string): string => text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
const LATENCY_METRICS = new Set(['http_req_duration', 'grpc_req_duration', 'iteration_duration']);

export function renderHtmlReport(summary: Summary, series: readonly TimePoint[], thresholds: readonly Threshold[]): string {
  const times = series.map((point) => point.t);
  const latencyLines = thresholds
    .filter((threshold) => LATENCY_METRICS.has(threshold.metric) && (threshold.aggregation.kind === 'p' || threshold.aggregation.kind === 'avg' || threshold.aggregation.kind === 'med' || threshold.aggregation.kind === 'max'))
    .map((threshold) => ({ label: `${threshold.metric} ${threshold.source}`, value: threshold.bound }));
  const charts = [
    lineChart({ title: 'Throughput', unit: 'requests/s', times, series: [{ name: 'req/s', color: '#1f77b4', values: series.map((point) => point.requests) }, { name: 'iterations/s', color: '#9467bd', values: series.map((point) => point.iterations) }] }),
    lineChart({
      title: 'Latency per second',
      unit: 'ms',
      times,
      series: [
        { name: 'p50', color: '#2ca02c', values: series.map((point) => point.p50Ms) },
        { name: 'p90', color: '#ff7f0e', values: series.map((point) => point.p90Ms) },
        { name: 'p99', color: '#d62728', values: series.map((point) => point.p99Ms) },
      ],
      lines: latencyLines,
    }),
    lineChart({ title: 'Errors', unit: 'per second', times, series: [{ name: 'failed requests', color: '#d62728', values: series.map((point) => point.failed) }, { name: 'failed checks', color: '#8c564b', values: series.map((point) => point.checksFailed) }] }),
    lineChart({ title: 'Virtual users and dropped iterations', unit: 'count', times, series: [{ name: 'VUs', color: '#17becf', values: series.map((point) => point.vus) }, { name: 'dropped/s', color: '#e377c2', values: series.map((point) => point.dropped) }] }),
  ];
  const thresholdRows = summary.thresholds
    .map((threshold) => `<tr class="${threshold.ok ? 'pass' : 'fail'}"><td>${threshold.ok ? '✓' : '✗'}</td><td>${escape(threshold.metric)}</td><td>${escape(threshold.threshold)}</td><td>${threshold.value === null ? 'no data' : threshold.value.toFixed(2)}</td><td>${threshold.failedAtSeconds === null ? '' : `${threshold.failedAtSeconds}s`}</td></tr>`)
    .join('');
  const trendRows = Object.entries(summary.trends)
    .map(([name, stats]) => `<tr><td>${escape(name)}</td><td>${stats.count}</td><td>${stats.avg.toFixed(2)}</td><td>${stats.med.toFixed(2)}</td><td>${stats.p90.toFixed(2)}</td><td>${stats.p95.toFixed(2)}</td><td>${stats.p99.toFixed(2)}</td><td>${stats.max.toFixed(2)}</td></tr>`)
    .join('');
  const counterRows = Object.entries(summary.counters).map(([name, counter]) => `<tr><td>${escape(name)}</td><td>${counter.count}</td><td>${counter.perSecond.toFixed(1)}/s</td></tr>`).join('');
  const errorRows = Object.entries(summary.errors).map(([kind, count]) => `<tr><td>${escape(kind)}</td><td>${count}</td></tr>`).join('');
  const verdict = summary.passed ? 'PASS' : 'FAIL';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>keel load report: ${verdict}</title>
<style>
body{font:14px system-ui,sans-serif;margin:24px;color:#222;max-width:960px}
h1 .pass{color:#2ca02c}h1 .fail{color:#d62728}
.chart{width:100%;height:auto;border:1px solid #ddd;margin:8px 0;background:#fff}
.chart .title{font-weight:600;font-size:13px}.chart .axis{font-size:11px;fill:#666}.chart .legend{font-size:12px}
.chart .grid{stroke:#eee}.chart .threshold{stroke:#d62728;stroke-dasharray:6 4}.chart .threshold-label{font-size:11px;fill:#d62728}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}td:first-child,th:first-child{text-align:left}
tr.fail td{color:#d62728}tr.pass td{color:#2ca02c}
</style></head><body>
<h1>keel load: <span class="${summary.passed ? 'pass' : 'fail'}">${verdict}</span></h1>
<p>${summary.elapsedSeconds.toFixed(1)} s${summary.aborted === undefined ? '' : `, aborted: ${escape(summary.aborted)}`}${summary.interrupted ? ', interrupted' : ''}${summary.lostWorkers.length > 0 ? `, lost: ${escape(summary.lostWorkers.join('; '))}` : ''}</p>
${charts.join('\n')}
<h2>Thresholds</h2><table><tr><th></th><th>metric</th><th>threshold</th><th>value</th><th>first failed</th></tr>${thresholdRows}</table>
<h2>Trends (ms)</h2><table><tr><th>metric</th><th>count</th><th>avg</th><th>med</th><th>p90</th><th>p95</th><th>p99</th><th>max</th></tr>${trendRows}</table>
<h2>Counters</h2><table><tr><th>metric</th><th>count</th><th>rate</th></tr>${counterRows}</table>
${errorRows === '' ? '' : `<h2>Errors</h2><table><tr><th>kind</th><th>count</th></tr>${errorRows}</table>`}
</body></html>
`;
}
