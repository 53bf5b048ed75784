/** How `keel probe run` prints results: an aligned table for people, one JSON document for tools. */
import type { CheckResult } from './result.js';

export const OUTPUT_FORMATS = ['table', 'json'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

export function renderResults(results: readonly CheckResult[], format: OutputFormat): string {
  return format === 'json' ? renderJson(results) : renderTable(results);
}

function renderJson(results: readonly CheckResult[]): string {
  const passed = results.filter((result) => result.ok).length;
  return JSON.stringify({ ok: passed === results.length, passed, failed: results.length - passed, checks: results });
}

function renderTable(results: readonly CheckResult[]): string {
  const rows = [
    ['RESULT', 'CHECK', 'KIND', 'TIME', 'DETAIL'],
    ...results.map((result) => [
      result.ok ? 'PASS' : 'FAIL',
      result.name,
      result.kind,
      `${result.durationMs.toFixed(0)}ms`,
      [result.httpStatus === undefined ? '' : `HTTP ${result.httpStatus}`, result.message ?? ''].filter((part) => part.length > 0).join(': '),
    ]),
  ];
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  const lines = rows.map((row) => row.map((cell, column) => (column === row.length - 1 ? cell.replace(/\s+/g, ' ') : cell.padEnd(widths[column]!))).join('  ').trimEnd());
  const failed = results.filter((result) => !result.ok).length;
  lines.push('', failed === 0 ? `all ${results.length} checks passed` : `${failed} of ${results.length} checks failed`);
  return lines.join('\n');
}
