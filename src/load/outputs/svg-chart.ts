/** A small line chart as inline SVG: no script, no CDN, so the report opens anywhere. */

export interface Series {
  readonly name: string;
  readonly color: string;
  readonly values: readonly number[];
}

export interface ChartSpec {
  readonly title: string;
  readonly unit: string;
  /** Seconds of each point. */
  readonly times: readonly number[];
  readonly series: readonly Series[];
  /** Horizontal lines: thresholds drawn at their bound. */
  readonly lines?: readonly { readonly label: string; readonly value: number }[];
}

const WIDTH = 900;
const HEIGHT = 220;
const PAD_LEFT = 60;
const PAD_RIGHT = 20;
const PAD_TOP = 28;
const PAD_BOTTOM = 30;
/** Points per series drawn; longer runs are thinned (max of each bucket, so spikes stay visible). */
const POINTS_MAX = 600;

const escape = (text: string): string => text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
const format = (value: number): string => (value >= 1000 ? `${(value / 1000).toFixed(1)}k` : value >= 10 ? value.toFixed(0) : value.toFixed(1));

function thin(values: readonly number[], bucket: number): number[] {
  if (bucket <= 1) return [...values];
  const result: number[] = [];
  for (let index = 0; index < values.length; index += bucket) result.push(Math.max(...values.slice(index, index + bucket)));
  return result;
}

export function lineChart(spec: ChartSpec): string {
  const bucket = Math.ceil(spec.times.length / POINTS_MAX);
  const times = thin(spec.times, bucket);
  const series = spec.series.map((line) => ({ ...line, values: thin(line.values, bucket) }));
  const maxTime = Math.max(1, ...times);
  const maxValue = Math.max(1e-9, ...series.flatMap((line) => line.values), ...(spec.lines ?? []).map((line) => line.value)) * 1.1;
  const x = (time: number): number => PAD_LEFT + (time / maxTime) * (WIDTH - PAD_LEFT - PAD_RIGHT);
  const y = (value: number): number => HEIGHT - PAD_BOTTOM - (value / maxValue) * (HEIGHT - PAD_TOP - PAD_BOTTOM);
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${WIDTH} ${HEIGHT}" class="chart" role="img" aria-label="${escape(spec.title)}">`);
  parts.push(`<text x="${PAD_LEFT}" y="18" class="title">${escape(spec.title)} (${escape(spec.unit)})</text>`);
  for (let tick = 0; tick <= 4; tick++) {
    const value = (maxValue / 4) * tick;
    parts.push(`<line x1="${PAD_LEFT}" x2="${WIDTH - PAD_RIGHT}" y1="${y(value).toFixed(1)}" y2="${y(value).toFixed(1)}" class="grid"/>`);
    parts.push(`<text x="${PAD_LEFT - 6}" y="${(y(value) + 4).toFixed(1)}" text-anchor="end" class="axis">${format(value)}</text>`);
  }
  for (let tick = 0; tick <= 5; tick++) {
    const time = (maxTime / 5) * tick;
    parts.push(`<text x="${x(time).toFixed(1)}" y="${HEIGHT - 10}" text-anchor="middle" class="axis">${format(time)}s</text>`);
  }
  for (const line of spec.lines ?? []) {
    parts.push(`<line x1="${PAD_LEFT}" x2="${WIDTH - PAD_RIGHT}" y1="${y(line.value).toFixed(1)}" y2="${y(line.value).toFixed(1)}" class="threshold"/>`);
    parts.push(`<text x="${WIDTH - PAD_RIGHT}" y="${(y(line.value) - 4).toFixed(1)}" text-anchor="end" class="threshold-label">${escape(line.label)}</text>`);
  }
  series.forEach((line, index) => {
    const points = line.values.map((value, point) => `${point === 0 ? 'M' : 'L'}${x(times[point] ?? 0).toFixed(1)},${y(value).toFixed(1)}`).join(' ');
    if (points.length > 0) parts.push(`<path d="${points}" fill="none" stroke="${line.color}" stroke-width="1.6" class="series"/>`);
    parts.push(`<text x="${WIDTH - PAD_RIGHT - (series.length - index) * 130}" y="18" fill="${line.color}" class="legend">■ ${escape(line.name)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('');
}
