import { METRIC_SAMPLES_MAX, TEXT_CHARS_MAX } from './limits.js';

/**
 * A small reader of Prometheus's text exposition format (what every keel
 * part serves on /metrics): enough to sum counters and read histograms
 * across label sets. Comments and malformed lines are skipped, never fatal:
 * the text comes from a target that may be anything.
 */

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+\S+)?$/;
const LABEL = /\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?/y;

export function parsePrometheusText(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const raw of text.split('\n')) {
    if (samples.length >= METRIC_SAMPLES_MAX) break;
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const match = LINE.exec(line);
    if (!match) continue;
    const value = parseValue(match[4]!);
    const labels = match[3] === undefined ? {} : parseLabels(match[3]);
    if (value === undefined || labels === undefined) continue;
    samples.push({ name: match[1]!, labels, value });
  }
  return samples;
}

function parseValue(text: string): number | undefined {
  if (text === '+Inf') return Number.POSITIVE_INFINITY;
  if (text === '-Inf') return Number.NEGATIVE_INFINITY;
  const value = Number(text);
  return Number.isNaN(value) && text !== 'NaN' ? undefined : value;
}

function parseLabels(text: string): Record<string, string> | undefined {
  const labels: Record<string, string> = {};
  LABEL.lastIndex = 0;
  while (LABEL.lastIndex < text.length) {
    const at = LABEL.lastIndex;
    const match = LABEL.exec(text);
    if (!match) return text.slice(at).trim() === '' ? labels : undefined;
    labels[match[1]!] = match[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c)).slice(0, TEXT_CHARS_MAX);
  }
  return labels;
}

/** The sum of every sample named `name` whose labels match `where` (each listed label equal, or accepted by the predicate). */
export function sumOf(samples: readonly Sample[], name: string, where: (labels: Readonly<Record<string, string>>) => boolean = () => true): number | undefined {
  let total: number | undefined;
  for (const sample of samples) {
    if (sample.name === name && where(sample.labels)) total = (total ?? 0) + sample.value;
  }
  return total;
}

/** Cumulative bucket counts of histogram `name` summed over every other label, by upper bound (ascending, +Inf last). */
export function bucketsOf(samples: readonly Sample[], name: string): Buckets {
  const byBound = new Map<number, number>();
  for (const sample of samples) {
    if (sample.name !== `${name}_bucket`) continue;
    const le = parseValue(sample.labels.le ?? '');
    if (le === undefined || Number.isNaN(le)) continue;
    byBound.set(le, (byBound.get(le) ?? 0) + sample.value);
  }
  return [...byBound].map(([le, count]) => ({ le, count })).sort((a, b) => a.le - b.le);
}

export type Buckets = ReadonlyArray<{ le: number; count: number }>;

/** The increase of each bucket between two scrapes; undefined after a counter reset (a restarted process). */
export function bucketIncrease(before: Buckets, after: Buckets): Buckets | undefined {
  const previous = new Map(before.map((bucket) => [bucket.le, bucket.count]));
  const increase = after.map((bucket) => ({ le: bucket.le, count: bucket.count - (previous.get(bucket.le) ?? 0) }));
  return increase.some((bucket) => bucket.count < 0) ? undefined : increase;
}

/** Bucket counts of several histograms with the same bounds, added by bound. */
export function addBuckets(parts: readonly Buckets[]): Buckets {
  const byBound = new Map<number, number>();
  for (const part of parts) for (const bucket of part) byBound.set(bucket.le, (byBound.get(bucket.le) ?? 0) + bucket.count);
  return [...byBound].map(([le, count]) => ({ le, count })).sort((a, b) => a.le - b.le);
}

/**
 * Prometheus's histogram_quantile over cumulative bucket counts: linear
 * interpolation inside the bucket the rank falls in; the highest finite
 * bound when it falls in +Inf. undefined when the buckets are empty.
 */
export function quantileOf(buckets: Buckets, quantile: number): number | undefined {
  const total = buckets.at(-1)?.count ?? 0;
  if (total <= 0) return undefined;
  const rank = quantile * total;
  let lowerBound = 0;
  let lowerCount = 0;
  for (const bucket of buckets) {
    if (bucket.count >= rank) {
      if (bucket.le === Number.POSITIVE_INFINITY) return lowerBound;
      const inBucket = bucket.count - lowerCount;
      return inBucket <= 0 ? bucket.le : lowerBound + ((bucket.le - lowerBound) * (rank - lowerCount)) / inBucket;
    }
    lowerBound = bucket.le;
    lowerCount = bucket.count;
  }
  return lowerBound;
}
