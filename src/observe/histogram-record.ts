import type { Histogram } from 'prom-client';
import assert from 'node:assert/strict';

/**
 * prom-client's record of one label set of a histogram (`Histogram#hashMap`
 * values, prom-client 15): what a tally writes its counts into when the
 * registry is read.
 */
export interface HistogramRecord {
  readonly labels: Record<string, string>;
  readonly bucketValues: Record<number, number>;
  sum: number;
  count: number;
}

/**
 * The record of `labels` in `histogram`, created (with prom-client's own
 * hashing, through `zero`) when absent. prom-client has no call that adds
 * counts to a histogram's buckets, so tallies kept off the request path
 * (src/gateway/request-tallies.ts, src/node/rpc-metrics.ts) add theirs here
 * at scrape time (addToHistogram). Their tests compare the result with plain `observe`
 * calls, so a prom-client upgrade that changes this record fails there.
 */
function histogramRecord<Label extends string>(histogram: Histogram<Label>, labels: Readonly<Record<Label, string>>): HistogramRecord {
  const names = Object.keys(labels) as Label[];
  const find = (): HistogramRecord | undefined => {
    const records = (histogram as unknown as { hashMap: Record<string, HistogramRecord> }).hashMap;
    for (const key in records) {
      const record = records[key]!;
      if (names.every((name) => record.labels[name] === labels[name])) return record;
    }
    return undefined;
  };
  const found = find();
  if (found !== undefined) return found;
  histogram.zero(labels as Partial<Record<Label, string | number>>);
  const created = find();
  assert(created !== undefined, 'prom-client keeps a histogram record per label set');
  return created;
}

/**
 * Adds a tally's observations to `histogram` under `labels`: `counts[i]` is
 * how many fell in bucket i (`value <= upperBounds[i]` and above the bound
 * before; past the last bound only +Inf, which prom-client derives from
 * `count`), as `observe` would have recorded them one by one.
 */
export function addToHistogram<Label extends string>(
  histogram: Histogram<Label>,
  labels: Readonly<Record<Label, string>>,
  upperBounds: readonly number[],
  counts: readonly number[],
  sum: number,
  count: number,
): void {
  const record = histogramRecord(histogram, labels);
  for (let index = 0; index < upperBounds.length; index++) record.bucketValues[upperBounds[index]!]! += counts[index]!;
  record.sum += sum;
  record.count += count;
}

/** The bucket `value` falls in, as `observe` places it (`value <= bound`); `upperBounds.length` past the last bound. */
export function bucketIndex(upperBounds: readonly number[], value: number): number {
  let index = 0;
  while (index < upperBounds.length && value > upperBounds[index]!) index++;
  return index;
}
