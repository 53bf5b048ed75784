/** The end-of-test summary: JSON (--summary-export) and k6-style text. */
import { trendStats, type TrendStats } from './histogram.js';
import type { MetricTotals } from './metrics.js';
import type { ThresholdResult } from './thresholds.js';
import { formatDuration } from './duration.js';

export interface Summary {
  readonly elapsedSeconds: number;
  readonly aborted: string | undefined;
  readonly interrupted: boolean;
  readonly lostWorkers: readonly string[];
  /** Why teardown() failed (it threw or timed out); a failed teardown fails the run (exit code 1). */
  readonly teardownFailed?: string | undefined;
  readonly trends: Record<string, TrendStats>;
  readonly counters: Record<string, { count: number; perSecond: number }>;
  readonly rates: Record<string, { rate: number; trues: number; falses: number }>;
  readonly gauges: Record<string, { value: number; max: number }>;
  readonly checks: Record<string, { passes: number; fails: number }>;
  readonly errors: Record<string, number>;
  readonly thresholds: readonly { metric: string; threshold: string; ok: boolean; value: number | null; failedAtSeconds: number | null }[];
  readonly passed: boolean;
}

export function buildSummary(totals: MetricTotals, results: readonly ThresholdResult[], elapsedMs: number, extra: { aborted: string | undefined; interrupted: boolean; lostWorkers: readonly string[]; teardownFailed: string | undefined }): Summary {
  const seconds = Math.max(elapsedMs / 1000, 1e-9);
  return {
    elapsedSeconds: elapsedMs / 1000,
    ...extra,
    trends: Object.fromEntries([...totals.trends].map(([name, histogram]) => [name, trendStats(histogram)])),
    counters: Object.fromEntries([...totals.counters].map(([name, count]) => [name, { count, perSecond: count / seconds }])),
    rates: Object.fromEntries([...totals.rates].map(([name, [trues, total]]) => [name, { rate: total === 0 ? 0 : trues / total, trues, falses: total - trues }])),
    gauges: Object.fromEntries([...totals.gauges].map(([name, value]) => [name, { value, max: totals.gaugeMax.get(name) ?? value }])),
    checks: Object.fromEntries([...totals.checks].map(([name, [passes, fails]]) => [name, { passes, fails }])),
    errors: Object.fromEntries(totals.errors),
    thresholds: results.map((result) => ({ metric: result.threshold.metric, threshold: result.threshold.source, ok: result.ok, value: result.value ?? null, failedAtSeconds: result.failedAtSeconds === undefined ? null : Math.round(result.failedAtSeconds * 10) / 10 })),
    passed: results.every((result) => result.ok) && extra.lostWorkers.length === 0 && extra.teardownFailed === undefined,
  };
}

const number = (value: number): string => (Number.isInteger(value) ? String(value) : value >= 100 ? value.toFixed(0) : value.toFixed(2));
const ms = (value: number): string => (value >= 1000 ? `${(value / 1000).toFixed(2)}s` : `${value.toFixed(2)}ms`);
const dots = (name: string): string => `  ${name} ${'.'.repeat(Math.max(2, 32 - name.length))}:`;

export function formatSummary(summary: Summary): string {
  const lines: string[] = [];
  const status = summary.aborted !== undefined ? `aborted: ${summary.aborted}` : summary.interrupted ? 'interrupted (Ctrl-C)' : 'finished';
  lines.push(`\n  run ${status} after ${formatDuration(summary.elapsedSeconds * 1000)}`);
  if (summary.lostWorkers.length > 0) lines.push(`  LOST: ${summary.lostWorkers.join('; ')}`);
  if (summary.teardownFailed !== undefined) lines.push(`  TEARDOWN FAILED: ${summary.teardownFailed}`);
  const checkNames = Object.keys(summary.checks);
  if (checkNames.length > 0) {
    lines.push('');
    for (const name of checkNames.slice(0, 50)) {
      const { passes, fails } = summary.checks[name]!;
      lines.push(`  ${fails === 0 ? '✓' : '✗'} ${name} (${passes} passed, ${fails} failed)`);
    }
  }
  lines.push('');
  const names = [...new Set([...Object.keys(summary.trends), ...Object.keys(summary.counters), ...Object.keys(summary.rates), ...Object.keys(summary.gauges)])].sort();
  for (const name of names) {
    const trend = summary.trends[name];
    const counter = summary.counters[name];
    const rate = summary.rates[name];
    const gauge = summary.gauges[name];
    if (trend !== undefined) lines.push(`${dots(name)} avg=${ms(trend.avg)} min=${ms(trend.min)} med=${ms(trend.med)} max=${ms(trend.max)} p(90)=${ms(trend.p90)} p(95)=${ms(trend.p95)} p(99)=${ms(trend.p99)} count=${trend.count}`);
    else if (counter !== undefined) lines.push(`${dots(name)} ${counter.count} ${number(counter.perSecond)}/s`);
    else if (rate !== undefined) lines.push(`${dots(name)} ${(rate.rate * 100).toFixed(2)}% ✓ ${rate.trues} ✗ ${rate.falses}`);
    else if (gauge !== undefined) lines.push(`${dots(name)} ${gauge.value} max=${gauge.max}`);
  }
  const errorKinds = Object.entries(summary.errors);
  if (errorKinds.length > 0) {
    lines.push('', '  errors:');
    for (const [kind, count] of errorKinds.sort((a, b) => b[1] - a[1])) lines.push(`    ${count} × ${kind}`);
  }
  if (summary.thresholds.length > 0) {
    lines.push('', '  thresholds:');
    for (const threshold of summary.thresholds) {
      const value = threshold.value === null ? 'no data' : number(threshold.value);
      const when = threshold.failedAtSeconds === null ? '' : ` (first failed ${threshold.failedAtSeconds}s into the run)`;
      lines.push(`    ${threshold.ok ? '✓' : '✗'} ${threshold.metric} ${threshold.threshold}: ${value}${when}`);
    }
  }
  lines.push('', `  result: ${summary.passed ? 'PASS' : 'FAIL'}`, '');
  return lines.join('\n');
}
