/**
 * A self-contained HTML page (inline SVG and CSS, nothing fetched) showing
 * the operations around a counterexample: one lane per process, a bar from
 * invocation to completion, unknown operations drawn open-ended to the
 * right edge, the counterexample's operations highlighted, and the faults
 * injected meanwhile drawn as shaded bands behind them. A broken etcd
 * revision rule gets its own timeline around the operations it names.
 */
import { describeOperation, type FaultSpan, formatScalar, type Operation } from './history.js';
import type { CheckResult } from './linearizable.js';
import type { RevisionsResult } from './revisions.js';

/** Most operations drawn around one counterexample (the page stays readable and small). */
export const TIMELINE_OPERATIONS_MAX = 300;

const LANE_HEIGHT = 26;
const LEFT = 90;
const WIDTH = 1100;

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function label(operation: Operation): string {
  if (operation.f === 'cas') return `cas ${formatScalar(operation.from)}→${formatScalar(operation.to)}`;
  return `${operation.f} ${formatScalar(operation.value)}`;
}

/** The key's operations overlapping the counterexample's time span, nearest first when there are too many. */
export function timelineWindow(all: readonly Operation[], highlighted: readonly Operation[]): Operation[] {
  if (highlighted.length === 0) return [];
  const key = highlighted[0]?.key;
  const start = Math.min(...highlighted.map((operation) => operation.call));
  const finite = highlighted.map((operation) => operation.ret).filter((ret) => ret !== Number.POSITIVE_INFINITY);
  const end = Math.max(start, ...finite, ...highlighted.map((operation) => operation.call));
  const ids = new Set(highlighted.map((operation) => operation.id));
  const overlapping = all.filter((operation) => operation.key === key && !ids.has(operation.id) && operation.call <= end && operation.ret >= start);
  const distance = (operation: Operation): number => Math.abs(operation.call - start) + Math.abs(Math.min(operation.ret, end) - end);
  const others = overlapping.sort((a, b) => distance(a) - distance(b)).slice(0, Math.max(0, TIMELINE_OPERATIONS_MAX - highlighted.length));
  return [...highlighted, ...others].sort((a, b) => a.call - b.call || a.id - b.id);
}

function svg(operations: readonly Operation[], highlighted: ReadonlySet<number>, blocked: ReadonlySet<number>, faults: readonly FaultSpan[] = []): string {
  const processes = [...new Set(operations.map((operation) => operation.process))].sort((a, b) => Number(a) - Number(b) || a.localeCompare(b));
  const lane = new Map(processes.map((process, index) => [process, index]));
  const start = Math.min(...operations.map((operation) => operation.call));
  const finiteEnds = operations.flatMap((operation) => (operation.ret === Number.POSITIVE_INFINITY ? [operation.call] : [operation.ret]));
  const end = Math.max(...finiteEnds, start + 1);
  const span = end - start;
  const right = WIDTH - 30;
  const x = (time: number): number => LEFT + ((time - start) / span) * (right - LEFT);
  const height = processes.length * LANE_HEIGHT + 40;
  const parts: string[] = [`<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}">`];
  parts.push('<defs><marker id="open" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" markerHeight="6" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#777"/></marker></defs>');
  // Faults first, so the operations are drawn over them; clipped to the window.
  for (const fault of faults) {
    if (fault.end < start || fault.start > end) continue;
    const x1 = x(Math.max(fault.start, start));
    const x2 = Math.max(x(Math.min(fault.end, end)), x1 + 2);
    parts.push(`<g class="fault"><title>${escape(`${fault.name}: ${fault.description}`)}</title><rect x="${x1.toFixed(1)}" y="12" width="${(x2 - x1).toFixed(1)}" height="${height - 30}"/><text x="${(x1 + 2).toFixed(1)}" y="10">${escape(fault.name)}</text></g>`);
  }
  processes.forEach((process, index) => {
    const y = 20 + index * LANE_HEIGHT;
    parts.push(`<text x="6" y="${y + 15}" class="lane">process ${escape(process)}</text><line x1="${LEFT}" x2="${right}" y1="${y + LANE_HEIGHT - 2}" y2="${y + LANE_HEIGHT - 2}" class="rule"/>`);
  });
  for (const operation of operations) {
    const y = 22 + (lane.get(operation.process) ?? 0) * LANE_HEIGHT;
    const x1 = x(operation.call);
    const open = operation.ret === Number.POSITIVE_INFINITY;
    const x2 = open ? right : Math.max(x(operation.ret), x1 + 3);
    const classes = [operation.type, highlighted.has(operation.id) ? 'bad' : '', blocked.has(operation.id) ? 'blocked' : '', open ? 'open' : ''].filter(Boolean).join(' ');
    parts.push(`<g class="${classes}"><title>${escape(describeOperation(operation))}</title>`);
    parts.push(`<rect x="${x1.toFixed(1)}" y="${y}" width="${(x2 - x1).toFixed(1)}" height="${LANE_HEIGHT - 8}" rx="3"/>`);
    if (open) parts.push(`<line x1="${x2 - 8}" x2="${x2}" y1="${y + 9}" y2="${y + 9}" marker-end="url(#open)" class="arrow"/>`);
    parts.push(`<text x="${(x1 + 3).toFixed(1)}" y="${y + 13}">${escape(label(operation))}</text></g>`);
  }
  parts.push(`<text x="${LEFT}" y="${height - 4}" class="axis">${escape(String(start))}</text><text x="${right}" y="${height - 4}" class="axis" text-anchor="end">${escape(String(end))}</text>`);
  parts.push('</svg>');
  return parts.join('\n');
}

export interface TimelineSection {
  readonly result: CheckResult;
  /** The whole history's operations (for the window around the counterexample). */
  readonly operations: readonly Operation[];
  /** Faults injected during the run, drawn behind the operations. */
  readonly faults?: readonly FaultSpan[] | undefined;
  /** etcd's revision rules, when the history carried revisions. */
  readonly revisions?: RevisionsResult | undefined;
}

/** The page: one section per file, a timeline for each counterexample. */
export function renderTimeline(sections: readonly TimelineSection[]): string {
  const body: string[] = [];
  for (const { result, operations, faults, revisions } of sections) {
    body.push(`<section><h2>${escape(result.source)}: ${result.verdict === 'ok' ? 'linearizable' : result.verdict === 'violation' ? 'not linearizable' : 'unknown (budget exhausted)'}</h2>`);
    body.push(`<p>model ${escape(result.model)}, ${result.operations} operations, ${result.keys} keys, ${result.elapsedMs.toFixed(1)} ms</p>`);
    const counterexample = result.counterexample;
    if (counterexample !== undefined) {
      const window = timelineWindow(operations, counterexample.operations);
      body.push(`<p>key ${escape(JSON.stringify(counterexample.key))}: ${escape(counterexample.reason)}. The ${counterexample.operations.length} highlighted operations are${counterexample.minimal ? ' a minimal' : ' a'} non-linearizable subset${counterexample.longestPrefix === undefined ? '' : `; the longest linearizable prefix held ${counterexample.longestPrefix} operations`}.</p>`);
      body.push(svg(window, new Set(counterexample.operations.map((operation) => operation.id)), new Set(counterexample.blocked.map((operation) => operation.id)), faults));
      body.push(`<ol>${counterexample.operations.map((operation) => `<li><code>${escape(describeOperation(operation))}</code></li>`).join('')}</ol>`);
    }
    if (revisions !== undefined && revisions.verdict !== 'skipped') {
      body.push(`<h3>etcd revision rules: ${revisions.verdict === 'ok' ? 'hold' : `${revisions.violationCount} broken`}</h3>`);
      body.push(`<p>${revisions.revisionsKnown} revisions known, ${revisions.unknownWritesPlaced} unknown writes placed, ${revisions.reads} reads, ${revisions.watchers} watch streams with ${revisions.watchEvents} events</p>`);
      if (revisions.violations.length > 0) body.push(`<ol>${revisions.violations.map((violation) => `<li><code>${escape(violation.kind)}</code>: ${escape(violation.message)}</li>`).join('')}</ol>`);
      const first = revisions.violations.find((violation) => violation.operations.length > 0);
      if (first !== undefined) {
        const window = timelineWindow(operations, first.operations);
        body.push(`<p>Around the first: ${escape(first.kind)}.</p>`);
        body.push(svg(window, new Set(first.operations.map((operation) => operation.id)), new Set(), faults));
      }
    }
    if (faults !== undefined && faults.length > 0) {
      body.push(`<details><summary>${faults.length} faults injected</summary><ol>${faults.map((fault) => `<li><code>${escape(fault.name)}</code>: ${escape(fault.description)}</li>`).join('')}</ol></details>`);
    }
    body.push('</section>');
  }
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>keel check</title>
<style>
body { font: 14px system-ui, sans-serif; margin: 20px; color: #222; }
svg text { font: 11px ui-monospace, monospace; fill: #222; pointer-events: none; }
svg .lane { font-weight: bold; }
svg .axis { fill: #777; }
.rule { stroke: #eee; }
rect { fill: #cfe3f7; stroke: #5b8fc7; }
.fail rect { fill: #eee; stroke: #bbb; }
.open rect { fill: #fff6d6; stroke: #c9a227; stroke-dasharray: 4 3; }
.bad rect { fill: #f8c9c4; stroke: #c0392b; stroke-width: 2; }
.blocked rect { stroke-width: 3; }
.arrow { stroke: #777; }
.fault rect { fill: #fde2c8; stroke: none; opacity: 0.6; }
.fault text { fill: #a0522d; }
</style></head><body>
<h1>keel check</h1>
<p>Bars run from invocation to completion, one lane per process. Open-ended dashed bars are unknown outcomes (may take effect any time after the call, or never); grey bars failed (no effect); red bars are the counterexample; orange bands are faults injected meanwhile.</p>
${body.join('\n')}
</body></html>
`;
}
