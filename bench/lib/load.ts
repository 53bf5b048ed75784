/**
 * How the benchmarks drive load: through keel/load (src/load), the
 * project's one load engine, never a loop of their own. A benchmark gives
 * an iteration function (one operation per iteration) and gets one row's
 * figures back, read from the engine's summary.
 *
 * The shape is a closed loop, as etcd's `benchmark` tool uses: `clients`
 * VUs on keel/load's shared-iterations executor, each VU one operation at a
 * time, until `seconds` have passed or `maxOps` operations were taken in
 * all (k6's shared-iterations is exactly that: constant-vus with a cap on
 * the iterations; until the cap the two are the same). It measures
 * throughput at a given concurrency, not an open-model latency (no
 * coordinated-omission correction; keel load's arrival-rate executors are
 * for that; the watch rows' fixed-rate writers use one, runArrivalRate).
 * The VUs run in this process (an inline scenario, workers 0),
 * as the benches' load always has, so each bench's client-CPU figure still
 * covers the whole load generator.
 *
 * A warm-up run on the same VUs comes first and is not recorded; the VUs
 * come from a VuPool, so the measured run uses the connections (and TLS
 * sessions) the warm-up opened, as a client pool's would be.
 */
import { Writable } from 'node:stream';
import { runLoad, type IterationFunction, type Options, type Summary, VuPool } from '../../src/load/index.js';

/** keel/load's TLS options for https targets (PEM text): a CA, a client certificate, h2 on or off. */
export type LoadTlsOptions = Pick<Options, 'http2' | 'insecureSkipTLSVerify' | 'tlsCa' | 'tlsAuth'>;

export interface LoadOptions {
  readonly clients: number;
  /** Stop issuing after this long. */
  readonly seconds: number;
  /** Stop issuing after this many operations in all. */
  readonly maxOps: number;
  /** Run the loops this long first (at most maxOps / 10 operations) without recording. */
  readonly warmupSeconds: number;
  /** Per-request timeout of the VUs' HTTP client. */
  readonly requestTimeoutMs?: number;
  /** TLS for https targets (a CA, a client certificate; h2 off keeps HTTP/1.1). */
  readonly tls?: LoadTlsOptions;
  /** Non-loopback hosts the user named (keel/load refuses any other). */
  readonly allowRemote?: readonly string[];
}

export interface LoadResult {
  readonly ops: number;
  readonly errors: number;
  readonly seconds: number;
  readonly opsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** The most frequent error kind keel/load counted, with its count. */
  readonly firstError: string | undefined;
}

/** Iterations still running when the time is up get this long (the benches' request timeouts are shorter). */
const GRACEFUL_STOP = '30s';

/**
 * Runs `iteration` closed-loop on `options.clients` VUs: a warm-up, then the
 * measured run. VUs come from `vuPool` (kept, for the next row to reuse their
 * connections) or from a pool made and closed here.
 */
export async function runClosedLoop(options: LoadOptions, iteration: IterationFunction, vuPool?: VuPool): Promise<LoadResult> {
  const pool = vuPool ?? new VuPool();
  try {
    if (options.warmupSeconds > 0) await runIterations(options, { iterations: Math.max(1, Math.floor(options.maxOps / 10)), seconds: options.warmupSeconds }, iteration, pool);
    return loadResult(await runIterations(options, { iterations: options.maxOps, seconds: options.seconds }, iteration, pool));
  } finally {
    if (vuPool === undefined) await pool.close();
  }
}

/** `iterations` iterations shared by the VUs within `seconds`, in this process; the engine's summary. */
export async function runIterations(options: Omit<LoadOptions, 'seconds' | 'maxOps' | 'warmupSeconds'>, bound: { readonly iterations: number; readonly seconds: number }, iteration: IterationFunction, vuPool: VuPool): Promise<Summary> {
  const scenario = {
    executor: 'shared-iterations' as const,
    vus: options.clients,
    iterations: bound.iterations,
    maxDuration: durationText(bound.seconds),
    gracefulStop: GRACEFUL_STOP,
  };
  return runScenario(options, scenario, iteration, vuPool);
}

/**
 * keel/load's open model: an iteration starts `perSecond` times a second for
 * `seconds`, each on a free VU (up to `vusMax`, `vusPreallocated` made up
 * front); an arrival that finds none is dropped and counted in the summary's
 * dropped_iterations, never delayed.
 */
export async function runArrivalRate(
  options: Omit<LoadOptions, 'clients' | 'seconds' | 'maxOps' | 'warmupSeconds'>,
  bound: { readonly perSecond: number; readonly seconds: number; readonly vusPreallocated: number; readonly vusMax: number },
  iteration: IterationFunction,
  vuPool: VuPool,
): Promise<Summary> {
  const scenario = {
    executor: 'constant-arrival-rate' as const,
    rate: bound.perSecond,
    timeUnit: '1s',
    duration: durationText(bound.seconds),
    preAllocatedVUs: bound.vusPreallocated,
    maxVUs: bound.vusMax,
    gracefulStop: GRACEFUL_STOP,
  };
  return runScenario(options, scenario, iteration, vuPool);
}

type ScenarioOptions = NonNullable<Options['scenarios']>[string];

/** One scenario on `vuPool`'s VUs in this process, its output discarded; the engine's summary. */
async function runScenario(options: Omit<LoadOptions, 'clients' | 'seconds' | 'maxOps' | 'warmupSeconds'>, scenario: ScenarioOptions, iteration: IterationFunction, vuPool: VuPool): Promise<Summary> {
  const result = await runLoad({
    scenario: {
      options: { scenarios: { bench: scenario }, ...(options.requestTimeoutMs === undefined ? {} : { httpTimeout: `${options.requestTimeoutMs}ms` }), ...options.tls },
      functions: { default: iteration },
    },
    vuPool,
    allowRemote: options.allowRemote ?? [],
    output: new Writable({ write: (_chunk, _encoding, done) => done() }),
    progress: false,
  });
  if (result.summary.lostWorkers.length > 0) throw new Error(`keel/load: ${result.summary.lostWorkers.join('; ')}`);
  return result.summary;
}

/** keel/load's duration text for `seconds`, whole milliseconds, at least 1 ms. */
const durationText = (seconds: number): string => `${Math.max(1, Math.round(seconds * 1000))}ms`;

/** Runs every one of `bound.iterations` iterations (a preload) within `bound.seconds`; throws unless all succeeded. */
export async function runEach(options: Omit<LoadOptions, 'seconds' | 'maxOps' | 'warmupSeconds'>, bound: { readonly iterations: number; readonly seconds: number }, iteration: IterationFunction, vuPool: VuPool): Promise<void> {
  const summary = await runIterations(options, bound, iteration, vuPool);
  const done = summary.counters.iterations?.count ?? 0;
  if (done !== bound.iterations) throw new Error(`${done} of ${bound.iterations} iterations succeeded (errors: ${JSON.stringify(summary.errors)})`);
}

/**
 * One row's figures from keel/load's summary. One operation per iteration:
 * an operation failed when its iteration threw (interrupted_iterations) or
 * its one request failed (http_req_failed, grpc_req_failed) without
 * throwing; latency is iteration_duration, the whole operation as the
 * bench's function sees it.
 */
export function loadResult(summary: Summary): LoadResult {
  const requestFailures = (summary.rates.http_req_failed?.trues ?? 0) + (summary.rates.grpc_req_failed?.trues ?? 0);
  const thrown = summary.counters.interrupted_iterations?.count ?? 0;
  const ops = (summary.counters.iterations?.count ?? 0) - requestFailures;
  const duration = summary.trends.iteration_duration;
  const [kind, count] = Object.entries(summary.errors).sort((a, b) => b[1] - a[1])[0] ?? [];
  const errors = requestFailures + thrown;
  return {
    ops,
    errors,
    seconds: summary.elapsedSeconds,
    opsPerSecond: ops / Math.max(summary.elapsedSeconds, 1e-9),
    p50Ms: duration?.med ?? 0,
    p99Ms: duration?.p99 ?? 0,
    // keel/load gives interrupted iterations (cut at the end of the run) no error kind.
    firstError: kind !== undefined ? `${kind} (${count}×)` : errors > 0 ? `${thrown} iterations interrupted` : undefined,
  };
}
