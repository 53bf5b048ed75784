/**
 * Latency histograms: HDR histograms in microseconds, 3 significant digits,
 * 1 µs to 1 h. Workers send them encoded (HdrHistogram's compressed format),
 * never samples, and the coordinator adds them: adding HDR histograms of the
 * same layout is exact (counts per bucket add), so the merged percentiles are
 * those of one histogram fed every sample.
 */
import { build, decodeFromCompressedBase64, encodeIntoCompressedBase64, type Histogram } from 'hdr-histogram-js';
import { LATENCY_US_MAX } from './limits.js';

export type { Histogram };

export function newHistogram(): Histogram {
  return build({ bitBucketSize: 32, lowestDiscernibleValue: 1, highestTrackableValue: LATENCY_US_MAX, numberOfSignificantValueDigits: 3, useWebAssembly: false });
}

/** Records a duration in milliseconds (as whole microseconds, clamped to the tracked range). */
export function recordMs(histogram: Histogram, valueMs: number): void {
  const us = Math.round(valueMs * 1000);
  histogram.recordValue(us < 1 ? 1 : us > LATENCY_US_MAX ? LATENCY_US_MAX : us);
}

export function encodeHistogram(histogram: Histogram): string {
  return encodeIntoCompressedBase64(histogram);
}

/** Decodes into a fresh histogram of the standard layout (so adds stay exact). */
export function decodeHistogram(encoded: string): Histogram {
  const decoded = decodeFromCompressedBase64(encoded, 32, false);
  const histogram = newHistogram();
  histogram.add(decoded);
  decoded.destroy();
  return histogram;
}

/** Adds an encoded histogram into `into`. */
export function addEncoded(into: Histogram, encoded: string): void {
  const decoded = decodeFromCompressedBase64(encoded, 32, false);
  into.add(decoded);
  decoded.destroy();
}

/** The value at `percentile` in milliseconds (0 when empty). */
export function percentileMs(histogram: Histogram, percentile: number): number {
  return histogram.totalCount === 0 ? 0 : histogram.getValueAtPercentile(percentile) / 1000;
}

/** Trend statistics in milliseconds, as the summary shows them. */
export interface TrendStats {
  readonly count: number;
  readonly avg: number;
  readonly min: number;
  readonly med: number;
  readonly max: number;
  readonly p90: number;
  readonly p95: number;
  readonly p99: number;
}

export function trendStats(histogram: Histogram): TrendStats {
  const count = histogram.totalCount;
  if (count === 0) return { count: 0, avg: 0, min: 0, med: 0, max: 0, p90: 0, p95: 0, p99: 0 };
  return {
    count,
    avg: histogram.mean / 1000,
    min: histogram.minNonZeroValue / 1000,
    med: percentileMs(histogram, 50),
    max: histogram.maxValue / 1000,
    p90: percentileMs(histogram, 90),
    p95: percentileMs(histogram, 95),
    p99: percentileMs(histogram, 99),
  };
}
