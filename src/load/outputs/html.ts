import type { Summary } from '../summary.js';
import type { Threshold } from '../thresholds.js';
import type { TimePoint } from '../timeseries.js';

export function renderHtmlReport(summary: Summary, series: readonly TimePoint[], thresholds: readonly Threshold[]): string {
  return `<!doctype html><html><body><pre>${JSON.stringify({ summary, series: series.length, thresholds: thresholds.length })}</pre></body></html>`;
}
