/**
 * Reads Prometheus' text exposition format (what keel's /metrics serve,
 * version 0.0.4; OpenMetrics text parses too for counters and histograms):
 * `name{label="value",...} value [timestamp]`. Comments and blank lines are
 * skipped; a line that does not parse is skipped and counted, so one bad
 * line from a target costs that series, not the scrape.
 */
export interface ExpositionSample {
  readonly metric: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL = /^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?/;

function unescape(text: string): string {
  return text.replace(/\\(.)/g, (_match, char: string) => (char === 'n' ? '\n' : char));
}

function parseValue(text: string): number {
  if (text === '+Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  return Number(text);
}

export function parseExposition(text: string): { samples: ExpositionSample[]; skippedLines: number } {
  const samples: ExpositionSample[] = [];
  let skippedLines = 0;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const sample = parseLine(line);
    if (sample === null) skippedLines++;
    else samples.push(sample);
  }
  return { samples, skippedLines };
}

function parseLine(line: string): ExpositionSample | null {
  const name = NAME.exec(line);
  if (name === null) return null;
  let rest = line.slice(name[0].length);
  const labels: Record<string, string> = {};
  if (rest.startsWith('{')) {
    rest = rest.slice(1);
    for (let count = 0; !rest.trimStart().startsWith('}'); count++) {
      const label = LABEL.exec(rest);
      if (label === null || count > 1_000) return null;
      labels[label[1]!] = unescape(label[2]!);
      rest = rest.slice(label[0].length);
    }
    rest = rest.trimStart().slice(1);
  }
  const fields = rest.trim().split(/\s+/);
  if (fields.length < 1 || fields.length > 2 || fields[0] === '') return null;
  const value = parseValue(fields[0]!);
  if (Number.isNaN(value) && fields[0] !== 'NaN') return null;
  return { metric: name[0], labels, value };
}

/** A stable key for a series: name and sorted labels. */
export function seriesKey(metric: string, labels: Readonly<Record<string, string>>): string {
  return `${metric}{${Object.keys(labels).sort().map((key) => `${key}=${JSON.stringify(labels[key])}`).join(',')}}`;
}
