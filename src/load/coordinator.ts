/**
 * The coordinator: loads and checks the scenario, splits the plans over its
 * workers (forked processes, one per core by default) or agents, starts them
 * at one agreed instant, adds up their interval metrics once a second
 * (histograms merged exactly), judges thresholds as the run goes (windows,
 * abortOnFail), feeds the live outputs, and ends with the summary.
 */
import { availableParallelism } from 'node:os';
import { writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { badInput, isLoadError, LoadError } from './errors.js';
import { vusMax } from './executors/index.js';
import { REQUEST_TIMEOUT_MS_DEFAULT, SNAPSHOT_INTERVAL_MS, TIME_SERIES_POINTS_MAX, WORKERS_MAX, WORKER_SILENCE_MS_MAX } from './limits.js';
import { ForkLink, InProcessLink, type WorkerLink } from './links.js';
import type { FromWorker, Job } from './messages.js';
import { combineSnapshots, MetricTotals, type MetricsSnapshot } from './metrics.js';
import { parseOptions, planBoundMs, scenarioPlans, shareOfPlan, type Options, type ScenarioPlan } from './options.js';
import { NdjsonOutput } from './outputs/ndjson.js';
import { ProgressOutput } from './outputs/progress.js';
import { PrometheusOutput } from './outputs/prometheus.js';
import { inlineScenario, iterationFunction, lifecycleFunctions, loadScenario, type InlineScenario, type Scenario } from './scenario.js';
import type { InProcessParts } from './session.js';
import type { VuPool } from './vu-pool.js';
import { buildSummary, formatSummary, type Summary } from './summary.js';
import { parseThresholds, ThresholdJudge, type Threshold } from './thresholds.js';
import { timePoint, type TimePoint } from './timeseries.js';
import { parseDurationMs } from './duration.js';
import { Lifecycle } from './lifecycle.js';
import { SETUP_TIMEOUT_MS_DEFAULT, TEARDOWN_TIMEOUT_MS_DEFAULT } from './limits.js';
import { TargetGuard } from './targets.js';
import { resolveTls, TlsProfile } from './tls.js';

/** Exit codes (k6's 99 for failed thresholds; 2 for bad input). */
export const EXIT_PASSED = 0;
export const EXIT_RUNTIME_ERROR = 1;
export const EXIT_BAD_INPUT = 2;
export const EXIT_THRESHOLDS_FAILED = 99;

/** Workers and agents get this long to load the scenario and say ready. */
const READY_TIMEOUT_MS = 60_000;
/** After the plans' bound, how long before workers are told to stop, then killed. */
const OVERRUN_STOP_MS = 30_000;
const OVERRUN_KILL_MS = 15_000;
/** The agreed start is this far ahead of the go, so every worker has it before it comes. */
const START_AHEAD_MS = 300;

export interface RunConfig {
  /** The scenario module or YAML file; or give `scenario`. */
  readonly scenarioFile?: string;
  /**
   * The scenario as values (options and iteration functions), without a
   * file: a program driving load, as the benchmarks do. It runs in this
   * process (workers 0, no links).
   */
  readonly scenario?: InlineScenario;
  /** VUs kept across in-process runs (with their connections): see VuPool. Runs in this process. */
  readonly vuPool?: VuPool;
  /** Worker processes; 0 runs the VUs in this process. Default: one per core (0 with `scenario` or `vuPool`). */
  readonly workers?: number;
  /** Links to agents instead of local workers (agent.ts builds them). */
  readonly links?: readonly WorkerLink[];
  readonly allowRemote?: readonly string[];
  /** k6's command-line overrides: they replace the scenario's scenarios with a shorthand. */
  readonly overrides?: { readonly vus?: number; readonly duration?: string; readonly iterations?: number };
  readonly summaryExport?: string;
  readonly ndjson?: string;
  readonly html?: string;
  readonly metricsPort?: number;
  /** Where the progress line and the summary go (default stdout); progress false silences the live line. */
  readonly output?: NodeJS.WritableStream;
  readonly progress?: boolean;
  /** Aborting it stops the run gracefully (Ctrl-C). */
  readonly signal?: AbortSignal;
}

export interface RunResult {
  readonly exitCode: number;
  readonly summary: Summary;
  readonly series: readonly TimePoint[];
  readonly thresholds: readonly Threshold[];
}

interface LinkState {
  readonly link: WorkerLink;
  ready: boolean;
  done: boolean;
  lost: string | undefined;
  lastHeardMs: number;
  gauges: Record<string, number>;
}

/** Options after the command-line overrides. */
export function effectiveOptions(options: Options, overrides: RunConfig['overrides']): Options {
  if (overrides === undefined || (overrides.vus === undefined && overrides.duration === undefined && overrides.iterations === undefined)) return options;
  const { scenarios: _scenarios, stages: _stages, preset: _preset, ...rest } = options;
  return parseOptions({ ...rest, vus: overrides.vus ?? options.vus, duration: overrides.duration ?? (overrides.iterations === undefined ? options.duration : undefined), iterations: overrides.iterations }, 'command line');
}

export async function runLoad(config: RunConfig): Promise<RunResult> {
  const inProcess = inProcessParts(config);
  const scenario = inProcess?.scenario ?? (await loadScenario(config.scenarioFile!));
  const options = effectiveOptions(scenario.options, config.overrides);
  const plans = scenarioPlans(options);
  for (const plan of plans) iterationFunction(scenario, plan.exec, plan.name);
  const thresholds = parseThresholds(options.thresholds);
  const job = {
    scenarioFile: scenario.file,
    allowRemote: config.allowRemote ?? [],
    reuseConnections: options.noConnectionReuse !== true,
    timeoutMs: options.httpTimeout === undefined ? REQUEST_TIMEOUT_MS_DEFAULT : parseDurationMs(options.httpTimeout, 'options.httpTimeout'),
    tls: resolveTls(options, dirname(scenario.file)),
    subMetricKeys: thresholds.map((threshold) => threshold.metric).filter((metric) => metric.includes('{')),
  };
  const lifecycle = lifecycleOf(scenario, options, job);
  const boundMs = Math.max(...plans.map(planBoundMs));
  const totalMs = Math.max(...plans.map((plan) => planBoundMs(plan) - plan.gracefulStopMs));
  const links = inProcess !== undefined ? [new InProcessLink(inProcess)] : (config.links ?? localLinks(config.workers ?? availableParallelism(), plans));
  const shares = links.map((_, index) => plans.map((plan) => shareOfPlan(plan, index, links.length)).filter((plan): plan is ScenarioPlan => plan !== undefined));
  return new Run(config, links, shares, job, thresholds, lifecycle, boundMs, totalMs).execute();
}

/** setup() and teardown() run here, with a VU set up as the workers' are. */
function lifecycleOf(scenario: Scenario, options: Options, job: Omit<Job, 'plans' | 'vuIdBase'>): Lifecycle {
  return new Lifecycle({
    ...lifecycleFunctions(scenario),
    setupTimeoutMs: options.setupTimeout === undefined ? SETUP_TIMEOUT_MS_DEFAULT : parseDurationMs(options.setupTimeout, 'options.setupTimeout'),
    teardownTimeoutMs: options.teardownTimeout === undefined ? TEARDOWN_TIMEOUT_MS_DEFAULT : parseDurationMs(options.teardownTimeout, 'options.teardownTimeout'),
    guard: new TargetGuard(job.allowRemote),
    reuseConnections: job.reuseConnections,
    timeoutMs: job.timeoutMs,
    tls: new TlsProfile(job.tls),
    tags: options.tags ?? {},
    subMetricKeys: job.subMetricKeys,
  });
}

/** An inline scenario or a VU pool: the parts only this process can run, checked against the config; undefined for a file run anywhere. */
function inProcessParts(config: RunConfig): InProcessParts | undefined {
  if ((config.scenarioFile === undefined) === (config.scenario === undefined)) throw badInput('give a scenario file or an inline scenario, one of them');
  if (config.scenario === undefined && config.vuPool === undefined) return undefined;
  if (config.links !== undefined || (config.workers ?? 0) !== 0) throw badInput('an inline scenario or a VU pool runs in this process: workers 0, no agents');
  return {
    ...(config.scenario === undefined ? {} : { scenario: inlineScenario(config.scenario) }),
    ...(config.vuPool === undefined ? {} : { vuPool: config.vuPool }),
  };
}

function localLinks(workers: number, plans: readonly ScenarioPlan[]): WorkerLink[] {
  if (!Number.isInteger(workers) || workers < 0 || workers > WORKERS_MAX) throw badInput(`--workers: 0 to ${WORKERS_MAX}`);
  if (workers === 0) return [new InProcessLink()];
  const vus = plans.reduce((sum, plan) => sum + vusMax(plan.executor), 0);
  // Each VU holds a connection (an open file); leave room for the rest of the process.
  const openFilesPerWorker = Math.ceil((vus / workers) * 1.1) + 1_000;
  return Array.from({ length: Math.max(1, Math.min(workers, vus)) }, (_, index) => new ForkLink(index, openFilesPerWorker));
}

class Run {
  readonly #config: RunConfig;
  readonly #states: LinkState[];
  readonly #shares: readonly (readonly ScenarioPlan[])[];
  readonly #job: Omit<Job, 'plans' | 'vuIdBase'>;
  readonly #judge: ThresholdJudge;
  readonly #lifecycle: Lifecycle;
  readonly #boundMs: number;
  readonly #totalMs: number;
  readonly #totals = new MetricTotals();
  readonly #series: TimePoint[] = [];
  #pending: MetricsSnapshot[] = [];
  #startMs = 0;
  #aborted: string | undefined;
  #interrupted = false;
  #stopSent = false;
  readonly #ndjson: NdjsonOutput | undefined;
  readonly #progress: ProgressOutput | undefined;
  #prometheus: PrometheusOutput | undefined;

  constructor(config: RunConfig, links: readonly WorkerLink[], shares: readonly (readonly ScenarioPlan[])[], job: Omit<Job, 'plans' | 'vuIdBase'>, thresholds: readonly Threshold[], lifecycle: Lifecycle, boundMs: number, totalMs: number) {
    this.#config = config;
    this.#states = links.map((link) => ({ link, ready: false, done: false, lost: undefined, lastHeardMs: performance.now(), gauges: {} }));
    this.#shares = shares;
    this.#job = job;
    this.#judge = new ThresholdJudge(thresholds);
    this.#lifecycle = lifecycle;
    this.#boundMs = boundMs;
    this.#totalMs = totalMs;
    this.#ndjson = config.ndjson === undefined ? undefined : new NdjsonOutput(config.ndjson);
    this.#progress = config.progress === false ? undefined : new ProgressOutput(config.output ?? process.stdout);
  }

  async execute(): Promise<RunResult> {
    if (this.#config.metricsPort !== undefined) {
      this.#prometheus = new PrometheusOutput(this.#config.metricsPort);
      await this.#prometheus.listening();
    }
    try {
      // setup() before any VU: its data goes out with the job. It throws KEEL_LOAD_SETUP_FAILED, and nothing else runs.
      const setup = await this.#lifecycle.setup(this.#config.signal);
      if (setup.snapshot !== undefined) this.#pending.push(setup.snapshot);
      try {
        await this.#load(setup.dataJson);
        await this.#run();
      } catch (error) {
        // Workers that failed to start: what setup() made still needs cleaning up.
        const teardown = await this.#lifecycle.teardown();
        if (teardown.failure !== undefined && isLoadError(error)) throw new LoadError(error.code, `${error.message}; ${teardown.failure}`);
        throw error;
      }
      // After the run however it ended: done, aborted by a threshold, stopped by Ctrl-C.
      const teardown = await this.#lifecycle.teardown();
      if (teardown.snapshot !== undefined) this.#totals.add(teardown.snapshot);
      return await this.#finish(teardown.failure);
    } finally {
      for (const state of this.#states) if (!state.done) state.link.kill();
      await this.#prometheus?.close();
      this.#totals.destroy();
    }
  }

  async #load(setupData: string | undefined): Promise<void> {
    const failures: string[] = [];
    let badInputMessage: string | undefined;
    const allReady = Promise.all(
      this.#states.map(async (state, index) => {
        const ready = new Promise<void>((resolve, reject) => {
          state.link.onMessage((message) => {
            state.lastHeardMs = performance.now();
            if (message.type === 'ready') {
              state.ready = true;
              resolve();
            } else if (message.type === 'failed' && !state.ready) {
              if (message.code === 'KEEL_LOAD_BAD_INPUT') badInputMessage = message.message;
              reject(new Error(`${state.link.name}: ${message.message}`));
            } else this.#onMessage(state, message);
          });
          void state.link.closed.then((why) => {
            if (!state.done && state.lost === undefined) state.lost = `${state.link.name} ${why}`;
            this.#wake?.();
            reject(new Error(`${state.link.name} ${why} before it was ready`));
          });
        });
        state.link.send({ type: 'load', job: { ...this.#job, setupData, plans: this.#shares[index]!, vuIdBase: index * 100_000_000 } });
        await ready.catch((error: Error) => void failures.push(error.message));
      }),
    );
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([allReady.then(() => false), new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), READY_TIMEOUT_MS)))]);
    clearTimeout(timer);
    if (badInputMessage !== undefined) throw badInput(badInputMessage);
    if (timedOut) failures.push(`not ready within ${READY_TIMEOUT_MS / 1000}s: ${this.#states.filter((state) => !state.ready).map((state) => state.link.name).join(', ')}`);
    if (failures.length > 0) throw new LoadError('KEEL_LOAD_WORKER_LOST', `workers failed to start: ${failures.join('; ')}`);
  }

  #onMessage(state: LinkState, message: FromWorker): void {
    if (message.type === 'failed') {
      // A worker that fails after it was ready (it crashed): lost, with its reason.
      state.lost ??= `${state.link.name} ${message.message}`;
      return;
    }
    if (message.type === 'snapshot' || message.type === 'done') {
      this.#pending.push(message.snapshot);
      state.gauges = { ...message.snapshot.gauges };
      if (message.type === 'done') {
        state.done = true;
        this.#wake?.();
        state.gauges = {};
      }
    }
  }

  async #run(): Promise<void> {
    const atEpochMs = Date.now() + START_AHEAD_MS;
    this.#startMs = performance.now() + START_AHEAD_MS;
    for (const state of this.#states) state.link.send({ type: 'start', atEpochMs });
    const onAbort = (): void => {
      this.#interrupted = true;
      this.#stopAll();
    };
    this.#config.signal?.addEventListener('abort', onAbort, { once: true });
    if (this.#config.signal?.aborted) onAbort();
    try {
      await delay(START_AHEAD_MS);
      // Bounded: the plans' bound, then a stop, then a kill.
      const stopAtMs = this.#startMs + this.#boundMs + OVERRUN_STOP_MS;
      const killAtMs = stopAtMs + OVERRUN_KILL_MS;
      let nextTickMs = this.#startMs + SNAPSHOT_INTERVAL_MS;
      while (this.#states.some((state) => !state.done && state.lost === undefined)) {
        await this.#waitUntilTickOrDone(nextTickMs);
        const nowMs = performance.now();
        if (nowMs >= nextTickMs) {
          this.#tick(nowMs);
          nextTickMs += SNAPSHOT_INTERVAL_MS * Math.max(1, Math.ceil((nowMs - nextTickMs) / SNAPSHOT_INTERVAL_MS));
        }
        for (const state of this.#states) {
          if (!state.done && state.lost === undefined && nowMs - state.lastHeardMs > WORKER_SILENCE_MS_MAX) {
            state.lost = `${state.link.name} silent for ${Math.round((nowMs - state.lastHeardMs) / 1000)}s`;
            state.link.kill();
          }
        }
        if (nowMs >= stopAtMs) this.#stopAll();
        if (nowMs >= killAtMs) for (const state of this.#states) if (!state.done) {
          state.lost ??= `${state.link.name} overran the test's bound and was killed`;
          state.link.kill();
        }
      }
      this.#tick(performance.now());
    } finally {
      this.#config.signal?.removeEventListener('abort', onAbort);
    }
  }

  /**
   * Sleeps until the next tick, woken early when a link is done or gone, so
   * the run ends (and its elapsed time, the rates' denominator, stops) when
   * the last link does, not up to a polling step later.
   */
  async #waitUntilTickOrDone(nextTickMs: number): Promise<void> {
    if (this.#states.every((state) => state.done || state.lost !== undefined)) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, Math.max(1, nextTickMs - performance.now()));
      this.#wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    this.#wake = undefined;
  }

  /** Ends the current #waitUntilTickOrDone early. */
  #wake: (() => void) | undefined;

  #tick(nowMs: number): void {
    const pending = this.#pending;
    this.#pending = [];
    const gauges: Record<string, number> = {};
    for (const state of this.#states) for (const [name, value] of Object.entries(state.gauges)) gauges[name] = (gauges[name] ?? 0) + value;
    const combined = pending.length === 0 ? { trends: {}, counters: {}, rates: {}, gauges: {}, checks: {}, errors: {} } : combineSnapshots(pending);
    const interval: MetricsSnapshot = { ...combined, gauges };
    this.#totals.add(interval);
    const elapsedMs = Math.max(0, nowMs - this.#startMs);
    const abortBy = this.#judge.tick(interval, this.#totals, elapsedMs);
    if (abortBy !== undefined && this.#aborted === undefined) {
      this.#aborted = `threshold ${abortBy.metric} ${abortBy.source} failed (abortOnFail)`;
      this.#stopAll();
    }
    const point = timePoint(Math.round(elapsedMs / 100) / 10, interval);
    if (this.#series.length < TIME_SERIES_POINTS_MAX) this.#series.push(point);
    this.#ndjson?.point(point);
    this.#prometheus?.update(this.#totals);
    this.#progress?.point(point, elapsedMs, this.#totalMs, this.#judge.state(this.#totals, elapsedMs));
  }

  #stopAll(): void {
    if (this.#stopSent) return;
    this.#stopSent = true;
    for (const state of this.#states) state.link.send({ type: 'stop' });
  }

  async #finish(teardownFailed: string | undefined): Promise<RunResult> {
    this.#progress?.finish();
    const elapsedMs = performance.now() - this.#startMs;
    const results = this.#judge.results(this.#totals, elapsedMs);
    const lost = this.#states.filter((state) => state.lost !== undefined).map((state) => state.lost!);
    const summary = buildSummary(this.#totals, results, elapsedMs, { aborted: this.#aborted, interrupted: this.#interrupted, lostWorkers: lost, teardownFailed });
    (this.#config.output ?? process.stdout).write(formatSummary(summary));
    if (this.#config.summaryExport !== undefined) writeFileSync(this.#config.summaryExport, `${JSON.stringify(summary, null, 2)}\n`);
    this.#ndjson?.finish(summary);
    if (this.#config.html !== undefined) {
      const { renderHtmlReport } = await import('./outputs/html.js');
      writeFileSync(this.#config.html, renderHtmlReport(summary, this.#series, this.#judge.thresholds));
    }
    const thresholdsFailed = results.some((result) => !result.ok);
    const exitCode = thresholdsFailed ? EXIT_THRESHOLDS_FAILED : lost.length > 0 || teardownFailed !== undefined ? EXIT_RUNTIME_ERROR : EXIT_PASSED;
    return { exitCode, summary, series: this.#series, thresholds: this.#judge.thresholds };
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export { isLoadError };
