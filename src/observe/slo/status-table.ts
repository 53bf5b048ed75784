import type { Evaluation, SloStatus } from './evaluator.js';

/** `keel slo status -w table`: one block per SLO, windows as columns. */

function percent(value: number | null, digits = 2): string {
  return value === null ? '-' : `${(value * 100).toFixed(digits)}%`;
}

function count(value: number | null): string {
  if (value === null) return '-';
  return value >= 1e6 ? `${(value / 1e6).toFixed(1)}M` : value >= 1e4 ? `${(value / 1e3).toFixed(1)}k` : String(Math.round(value));
}

function row(label: string, cells: readonly string[]): string {
  return `  ${label.padEnd(8)}${cells.map((cell) => cell.padStart(9)).join('')}`;
}

function block(status: SloStatus): string {
  const state = (firing: boolean): string => (firing ? 'FIRING' : 'ok');
  return [
    `${status.id}  ${status.displayName}  target ${percent(status.target, 3)} over ${status.period}`,
    `  budget remaining ${percent(status.budgetRemaining, 1)}   page ${state(status.pageFiring)}   ticket ${state(status.ticketFiring)}`,
    row('window', status.windows.map((window) => window.window)),
    row('burn', status.windows.map((window) => (window.burnRate === null ? '-' : window.burnRate.toFixed(2)))),
    row('errors', status.windows.map((window) => percent(window.errorRatio, 3))),
    row('events', status.windows.map((window) => count(window.events))),
  ].join('\n');
}

export function formatStatusTable(evaluation: Evaluation): string {
  const lines = [`at ${new Date(evaluation.atMs).toISOString()}`];
  if (evaluation.observedSeconds !== null) lines.push(`  scraped samples cover the last ${evaluation.observedSeconds.toFixed(0)}s: longer windows show only that`);
  for (const target of evaluation.targets) lines.push(`  target ${target.url} ${target.up ? 'up' : `DOWN (${target.lastError ?? 'not scraped yet'})`}`);
  for (const status of evaluation.slos) lines.push('', block(status));
  return lines.join('\n');
}
