import type { Journal } from './journal.js';
import type { Timeline, TimelineRow } from './timeline.js';

/**
 * The report: one self-contained HTML page (no script, no CDN, inline SVG)
 * with the verdict, a postmortem summary and a timeline of throughput,
 * latency percentiles, errors, the leader and the burn rate, faults shaded
 * behind every chart.
 */

const WIDTH = 900;
const HEIGHT = 120;
const MARGIN_LEFT = 60;

const escape = (text: string): string => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export function renderReport(journal: Journal, timeline: Timeline): string {
  const { keel } = journal;
  const pm = keel.postmortem;
  const seconds = Math.max(1, timeline.rows.length);
  const charts = [
    chart('throughput (ok/s)', timeline, seconds, [{ name: 'ok/s', color: '#2b7a2b', value: (row) => row.ok }]),
    chart('errors (/s)', timeline, seconds, [{ name: 'errors/s', color: '#b22222', value: (row) => row.errors }]),
    chart('latency (ms)', timeline, seconds, [
      { name: 'p50', color: '#1f5fa8', value: (row) => row.p50Ms },
      { name: 'p99', color: '#8a2be2', value: (row) => row.p99Ms },
    ]),
    chart('burn rate (shortest SLO window)', timeline, seconds, [{ name: 'burn', color: '#d2691e', value: (row) => row.burnRate ?? 0 }]),
    leaderChart(timeline, seconds),
  ].join('\n');
  const rows = (items: readonly string[]): string => items.map((item) => `<li>${escape(item)}</li>`).join('');
  const ms = (value: number | null): string => (value === null ? 'n/a' : `${(value / 1_000).toFixed(1)} s`);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escape(journal.experiment.title)}: ${journal.status}</title>
<style>
body{font:14px system-ui,sans-serif;margin:2em;max-width:960px;color:#222}
h1{font-size:1.4em}.status{padding:2px 8px;border-radius:3px;color:#fff}
.completed{background:#2b7a2b}.failed{background:#b22222}.aborted{background:#d2691e}.interrupted{background:#777}
table{border-collapse:collapse}td,th{padding:2px 10px;text-align:left;border-bottom:1px solid #ddd}
svg{display:block;margin:0.5em 0}.fault{fill:#f4a460;fill-opacity:0.3}.axis{stroke:#999}.label{font-size:11px;fill:#555}
</style></head><body>
<h1>${escape(journal.experiment.title)}</h1>
<p><span class="status ${journal.status}" id="status">${journal.status}</span> ${journal.deviated ? '<b>deviated</b>' : ''} exit ${keel.exit_code}: ${escape(keel.reason)}</p>
<p>seed ${keel.seed} · ${journal.start} · ${journal.duration.toFixed(1)} s · checker: ${escape(keel.check?.verdict ?? 'no history')} · steady state before: ${hypothesisText(journal.steady_states.before)}, after: ${hypothesisText(journal.steady_states.after)}</p>
<h2>Postmortem</h2>
<table id="postmortem">
<tr><th>what happened</th><td><ul>${rows(pm.what_happened)}</ul></td></tr>
<tr><th>impact</th><td>${pm.impact.succeeded} succeeded, ${pm.impact.failed} failed${pm.impact.error_ratio === null ? '' : ` (${(pm.impact.error_ratio * 100).toFixed(2)} %)`}; ${pm.impact.leader_changes} leader change(s); ${pm.impact.recovered === null ? 'recovery not awaited (interrupted)' : pm.impact.recovered ? 'recovered' : 'NOT recovered'}</td></tr>
<tr><th>time to detect</th><td>${ms(pm.time_to_detect_ms)} (longest, from a fault's start to the first second that showed it)</td></tr>
<tr><th>time to recover</th><td>${ms(pm.time_to_recover_ms)} (longest, from a fault's start to throughput back at 80 % of the baseline with no errors)</td></tr>
<tr><th>MTTR</th><td>${ms(pm.mttr_ms)} (the mean of the method's wait-ready restores: ${pm.time_to_restore_ms.map((value) => ms(value)).join(', ') || 'none'})</td></tr>
</table>
<h2>Timeline</h2>
<p class="label">throughput, errors and latency from ${timeline.source === 'load' ? 'the load' : timeline.source === 'history' ? 'the recorded history' : 'nothing (no load, no history)'}; faults shaded</p>
<div id="timeline">
${charts}
</div>
<h2>Faults</h2>
<table><tr><th>start</th><th>fault</th><th>detect</th><th>recover</th><th>what</th></tr>
${timeline.faults.map((fault) => `<tr><td>${(fault.startMs / 1_000).toFixed(1)} s</td><td>${escape(fault.name)}</td><td>${ms(fault.detectMs)}</td><td>${ms(fault.recoverMs)}</td><td>${escape(fault.description)}</td></tr>`).join('\n')}
</table>
<h2>Method</h2>
<table><tr><th>activity</th><th>status</th><th>output</th></tr>
${journal.run.map((entry) => `<tr><td>${escape(entry.activity.type)} ${escape(entry.activity.name)}</td><td>${entry.status}</td><td>${escape(entry.exception ?? JSON.stringify(entry.output) ?? '')}</td></tr>`).join('\n')}
</table>
</body></html>
`;
}

function hypothesisText(entry: { readonly steady_state_met: boolean } | null): string {
  return entry === null ? 'not checked' : entry.steady_state_met ? 'met' : 'NOT met';
}

interface Series {
  readonly name: string;
  readonly color: string;
  value(row: TimelineRow): number;
}

function frame(title: string, timeline: Timeline, seconds: number, inner: string): string {
  const x = (ms: number): number => MARGIN_LEFT + (Math.max(0, Math.min(ms, seconds * 1_000)) / (seconds * 1_000)) * (WIDTH - MARGIN_LEFT);
  const shading = timeline.faults.map((fault) => `<rect class="fault" x="${x(fault.startMs).toFixed(1)}" y="0" width="${Math.max(2, x(fault.endMs) - x(fault.startMs)).toFixed(1)}" height="${HEIGHT}"><title>${escape(fault.name)}</title></rect>`).join('');
  const stop = timeline.stoppedAtMs === null ? '' : `<line x1="${x(timeline.stoppedAtMs)}" x2="${x(timeline.stoppedAtMs)}" y1="0" y2="${HEIGHT}" stroke="#000" stroke-dasharray="4 2"><title>aborted</title></line>`;
  return `<svg class="chart" width="${WIDTH}" height="${HEIGHT + 16}" role="img" aria-label="${escape(title)}"><text class="label" x="0" y="12">${escape(title)}</text>${shading}${stop}<line class="axis" x1="${MARGIN_LEFT}" x2="${WIDTH}" y1="${HEIGHT}" y2="${HEIGHT}"/>${inner}<text class="label" x="${MARGIN_LEFT}" y="${HEIGHT + 14}">0 s</text><text class="label" x="${WIDTH - 40}" y="${HEIGHT + 14}">${seconds} s</text></svg>`;
}

function chart(title: string, timeline: Timeline, seconds: number, series: readonly Series[]): string {
  const max = Math.max(1e-9, ...timeline.rows.flatMap((row) => series.map((line) => line.value(row))));
  const x = (t: number): number => MARGIN_LEFT + ((t + 0.5) / seconds) * (WIDTH - MARGIN_LEFT);
  const y = (value: number): number => HEIGHT - 4 - (value / max) * (HEIGHT - 20);
  const lines = series.map((line) => `<polyline fill="none" stroke="${line.color}" stroke-width="1.5" points="${timeline.rows.map((row) => `${x(row.t).toFixed(1)},${y(line.value(row)).toFixed(1)}`).join(' ')}"><title>${escape(line.name)}</title></polyline>`).join('');
  const legend = series.map((line, index) => `<text class="label" x="${MARGIN_LEFT + 200 + index * 60}" y="12" fill="${line.color}">${escape(line.name)}</text>`).join('');
  return frame(`${title} (max ${Number(max.toFixed(2))})`, timeline, seconds, `${lines}${legend}`);
}

const LEADER_COLORS = ['#1f5fa8', '#2b7a2b', '#8a2be2', '#d2691e', '#b22222', '#008b8b', '#555'];

function leaderChart(timeline: Timeline, seconds: number): string {
  const ids = [...new Set(timeline.rows.map((row) => row.leader).filter((id): id is string => id !== null))].sort();
  const width = (WIDTH - MARGIN_LEFT) / seconds;
  const bars = timeline.rows
    .map((row) => (row.leader === null ? '' : `<rect x="${(MARGIN_LEFT + row.t * width).toFixed(1)}" y="40" width="${width.toFixed(1)}" height="40" fill="${LEADER_COLORS[ids.indexOf(row.leader) % LEADER_COLORS.length]}"><title>${row.t} s: ${escape(row.leader)}</title></rect>`))
    .join('');
  const legend = ids.map((id, index) => `<text class="label" x="${MARGIN_LEFT + 200 + index * 50}" y="12" fill="${LEADER_COLORS[index % LEADER_COLORS.length]}">${escape(id)}</text>`).join('');
  return frame(`leader (${Math.max(0, timeline.leaderChanges.length - 1)} change(s))`, timeline, seconds, `${bars}${legend}`);
}
