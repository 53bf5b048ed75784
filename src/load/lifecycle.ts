/**
 * k6's test lifecycle around the VUs' iterations: `export function
 * setup(vu)` runs once in the coordinator before any VU starts (to create
 * test data), and what it returns goes to every worker and agent with the
 * job and to every iteration as `data`; `export function teardown(data, vu)`
 * runs once in the coordinator after the run, however it ended (done, a
 * threshold's abort, Ctrl-C). Each gets a VU of its own (id 0, an HTTP
 * client like any VU's, checks and metrics grouped `::setup` /
 * `::teardown`, counted in the run's totals) and a bound in time
 * (`setupTimeout`, `teardownTimeout`, k6's 60 s by default).
 */
import { realClock } from './clock.js';
import { formatDuration } from './duration.js';
import { errorKind, LoadError } from './errors.js';
import { IntervalRecorder, type MetricsSnapshot } from './metrics.js';
import { decodeSetupData, encodeSetupData } from './setup-data.js';
import { MetricSink, subMetricsOf } from './sink.js';
import type { TargetGuard } from './targets.js';
import type { TlsProfile } from './tls.js';
import { VU } from './vu.js';

/** setup(): the scenario's own VU makes its test data; the value returned is `data`. */
export type SetupFunction<Data = unknown> = (vu: VU) => Data | Promise<Data>;
/** teardown(): k6's `teardown(data)`, with the VU second for its HTTP client. */
export type TeardownFunction<Data = unknown> = (data: Data, vu: VU) => unknown;

export interface LifecycleSettings {
  readonly setup: SetupFunction | undefined;
  readonly teardown: TeardownFunction | undefined;
  readonly setupTimeoutMs: number;
  readonly teardownTimeoutMs: number;
  readonly guard: TargetGuard;
  readonly reuseConnections: boolean;
  readonly timeoutMs: number;
  readonly tls: TlsProfile;
  readonly tags: Readonly<Record<string, string>>;
  readonly subMetricKeys: readonly string[];
}

/** What setup() gave: the JSON a job carries and the metrics its requests recorded. */
export interface SetupResult {
  readonly dataJson: string | undefined;
  readonly snapshot: MetricsSnapshot | undefined;
}

export interface TeardownResult {
  readonly snapshot: MetricsSnapshot | undefined;
  /** Why teardown() failed (it threw or ran out of time); the summary reports it. */
  readonly failure: string | undefined;
}

/** Time ran out, or Ctrl-C: told apart from what the function itself threw. */
class CutOff extends Error {}

export class Lifecycle {
  readonly #settings: LifecycleSettings;
  #dataJson: string | undefined;

  constructor(settings: LifecycleSettings) {
    this.#settings = settings;
  }

  /** Runs setup() (if exported); a throw, a timeout, an interrupt or data that cannot be sent is KEEL_LOAD_SETUP_FAILED. */
  async setup(signal?: AbortSignal): Promise<SetupResult> {
    const setup = this.#settings.setup;
    if (setup === undefined) return { dataJson: undefined, snapshot: undefined };
    const outcome = await this.#bounded('setup', this.#settings.setupTimeoutMs, 'options.setupTimeout', (vu) => setup(vu), signal);
    if (outcome.failure !== undefined) throw new LoadError('KEEL_LOAD_SETUP_FAILED', `${outcome.failure}; no VU ran`);
    this.#dataJson = encodeSetupData(outcome.value);
    return { dataJson: this.#dataJson, snapshot: outcome.snapshot };
  }

  /** Runs teardown(data) (if exported); never throws: a failure is returned for the summary. */
  async teardown(): Promise<TeardownResult> {
    const teardown = this.#settings.teardown;
    if (teardown === undefined) return { snapshot: undefined, failure: undefined };
    const data = decodeSetupData(this.#dataJson);
    const outcome = await this.#bounded('teardown', this.#settings.teardownTimeoutMs, 'options.teardownTimeout', (vu) => teardown(data, vu));
    return { snapshot: outcome.snapshot, failure: outcome.failure };
  }

  async #bounded(name: 'setup' | 'teardown', timeoutMs: number, field: string, body: (vu: VU) => unknown, signal?: AbortSignal): Promise<{ value: unknown; failure: string | undefined; snapshot: MetricsSnapshot }> {
    const recorder = new IntervalRecorder();
    const { guard, reuseConnections, timeoutMs: requestTimeoutMs, tls, tags } = this.#settings;
    const sink = new MetricSink(recorder, subMetricsOf(this.#settings.subMetricKeys));
    const vu = new VU(0, name, { clock: realClock, sink, guard, reuseConnections, timeoutMs: requestTimeoutMs, tls, tags });
    vu.beginIteration(undefined);
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    // Rejects when time runs out or Ctrl-C comes: the function cannot be killed, but its VU is interrupted (requests and sleeps end).
    const cutOff = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new CutOff(`${name}() did not finish within ${formatDuration(timeoutMs)} (${field})`)), timeoutMs);
      onAbort = () => reject(new CutOff(`${name}() interrupted (Ctrl-C)`));
      if (signal?.aborted) onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
    });
    try {
      const value = await Promise.race([vu.group(name, () => body(vu)), cutOff]);
      return { value, failure: undefined, snapshot: recorder.snapshot() };
    } catch (error) {
      const failure = error instanceof CutOff ? error.message : `${name}() threw ${errorKind(error)}: ${String((error as Error)?.message ?? error).slice(0, 500)}`;
      return { value: undefined, failure, snapshot: recorder.snapshot() };
    } finally {
      clearTimeout(timer);
      if (onAbort !== undefined) signal?.removeEventListener('abort', onAbort);
      vu.interrupt();
      await vu.close();
      recorder.destroy();
    }
  }
}
