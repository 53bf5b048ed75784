/**
 * A closed-loop load runner: `clients` concurrent loops, each issuing one
 * request at a time, bounded by time and by a total operation count, with
 * latencies in an HDR histogram (microseconds). A closed loop measures
 * throughput at a given concurrency, as etcd's `benchmark` tool does; it is
 * not an open-model latency test (no coordinated-omission correction).
 */
import { build, type Histogram } from 'hdr-histogram-js';
import { seededRandom } from '../../src/load/workloads/kv.js';

export interface LoadOptions {
  readonly clients: number;
  /** Stop issuing after this long. */
  readonly seconds: number;
  /** Stop issuing after this many operations in all. */
  readonly maxOps: number;
  /** Run the loops this long first without recording. */
  readonly warmupSeconds: number;
}

export interface LoadResult {
  readonly ops: number;
  readonly errors: number;
  readonly seconds: number;
  readonly opsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly firstError: string | undefined;
}

/** Longest latency the histogram tracks: 60 s in µs. */
const LATENCY_US_MAX = 60_000_000;

export function newHistogram(): Histogram {
  return build({ lowestDiscernibleValue: 1, highestTrackableValue: LATENCY_US_MAX, numberOfSignificantValueDigits: 3 });
}

/** Runs `operation(client, sequence)` from `clients` loops; a rejected operation counts as an error, not a latency. */
export async function runLoad(options: LoadOptions, operation: (client: number, sequence: number) => Promise<void>): Promise<LoadResult> {
  if (options.warmupSeconds > 0) await phase(options.clients, options.warmupSeconds, Math.max(1, Math.floor(options.maxOps / 10)), operation, undefined);
  const histogram = newHistogram();
  try {
    const { ops, errors, seconds, firstError } = await phase(options.clients, options.seconds, options.maxOps, operation, histogram);
    return {
      ops,
      errors,
      seconds,
      opsPerSecond: ops / seconds,
      p50Ms: histogram.getValueAtPercentile(50) / 1000,
      p99Ms: histogram.getValueAtPercentile(99) / 1000,
      firstError,
    };
  } finally {
    histogram.destroy();
  }
}

async function phase(clients: number, seconds: number, maxOps: number, operation: (client: number, sequence: number) => Promise<void>, histogram: Histogram | undefined): Promise<{ ops: number; errors: number; seconds: number; firstError: string | undefined }> {
  const startNs = process.hrtime.bigint();
  const endNs = startNs + BigInt(Math.round(seconds * 1e9));
  let issued = 0;
  let ops = 0;
  let errors = 0;
  let firstError: string | undefined;
  const loop = async (client: number): Promise<void> => {
    while (issued < maxOps && process.hrtime.bigint() < endNs) {
      const sequence = issued++;
      const beganNs = process.hrtime.bigint();
      try {
        await operation(client, sequence);
        histogram?.recordValue(Math.max(1, Number(process.hrtime.bigint() - beganNs) / 1000));
        ops++;
      } catch (error) {
        errors++;
        firstError ??= (error as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: clients }, (_, client) => loop(client)));
  return { ops, errors, seconds: Number(process.hrtime.bigint() - startNs) / 1e9, firstError };
}

/** A markdown table. */
/** A small fast PRNG (xorshift, keel/load's) per client loop picking from `keys`, so key choice costs nothing and is reproducible. */
export function keyPicker<T>(keys: readonly T[], seed: number): () => T {
  const random = seededRandom(seed);
  return () => keys[Math.floor(random() * keys.length)]!;
}

export function markdownTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((cell, column) => Math.max(cell.length, ...rows.map((row) => (row[column] ?? '').length)));
  const line = (cells: readonly string[]): string => `| ${cells.map((cell, column) => cell.padEnd(widths[column]!)).join(' | ')} |`;
  return [line(header), `|${widths.map((width) => '-'.repeat(width + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}
