/**
 * The virtual user a scenario's function receives once per iteration: its
 * id, per-VU `state` (kept across its iterations), an HTTP client with its
 * own keep-alive connections, `check`, `group`, `sleep` (think time), tags
 * and custom metrics. VUs are plain objects on one event loop: no isolate or
 * thread each, so a worker holds thousands.
 */
import type { Clock } from './clock.js';
import { VuGrpc } from './grpc.js';
import { VuHttp } from './http.js';
import type { MetricSink } from './sink.js';
import type { TargetGuard } from './targets.js';
import type { TlsProfile } from './tls.js';

export interface VuSettings {
  readonly clock: Clock;
  readonly sink: MetricSink;
  readonly guard: TargetGuard;
  readonly reuseConnections: boolean;
  readonly timeoutMs: number;
  readonly tls: TlsProfile;
  /** The scenario's tags (scenario name included). */
  readonly tags: Readonly<Record<string, string>>;
}

/** Thrown into an iteration whose scenario ran out of graceful-stop time. */
export class IterationInterrupted extends Error {
  constructor() {
    super('iteration interrupted at the end of its scenario');
    this.name = 'IterationInterrupted';
  }
}

export class VU {
  /** 1-based id, unique within the worker's scenario. */
  readonly id: number;
  /** The scenario this VU runs in. */
  readonly scenario: string;
  /** Iterations this VU has started (0-based index of the current one). */
  iteration = -1;
  /** Anything the scenario keeps between this VU's iterations (a login token, a cart). */
  readonly state: Record<string, unknown> = {};
  /** Tags added to every metric this VU records; a scenario may set more. */
  readonly tags: Record<string, string>;
  readonly http: VuHttp;
  /** gRPC unary calls (grpc-js), one channel per VU and address. */
  readonly grpc: VuGrpc;
  #settings: VuSettings;
  readonly #interrupt = new AbortController();
  #intendedStartMs: number | undefined;
  #groupPath = '';

  constructor(id: number, scenario: string, settings: VuSettings) {
    this.id = id;
    this.scenario = scenario;
    this.#settings = settings;
    this.tags = { ...settings.tags };
    this.http = new VuHttp({
      clock: settings.clock,
      sink: settings.sink,
      guard: settings.guard,
      reuseConnections: settings.reuseConnections,
      timeoutMs: settings.timeoutMs,
      tls: settings.tls,
      signal: this.#interrupt.signal,
      takeIntendedStart: () => this.takeIntendedStart(),
      tags: () => this.#currentTags(),
    });
    this.grpc = new VuGrpc(settings.clock, settings.sink, settings.guard, () => this.takeIntendedStart());
  }

  /** Aborted when the VU's scenario has to stop this iteration (graceful stop ran out, Ctrl-C). */
  get signal(): AbortSignal {
    return this.#interrupt.signal;
  }

  /**
   * Asserts on a value: each named predicate counts as a passed or failed
   * check (the `checks` rate); returns whether all passed. A predicate that
   * throws fails.
   */
  check<T>(value: T, predicates: Record<string, (value: T) => boolean>, tags?: Record<string, string>): boolean {
    let all = true;
    const sink = this.#settings.sink;
    // Tags cost objects per check: build them only when a sub-metric could match.
    const checkTags = sink.tagged ? { ...this.#currentTags(), ...(tags ?? {}) } : undefined;
    for (const name in predicates) {
      let passed: boolean;
      try {
        passed = predicates[name]!(value) === true;
      } catch {
        passed = false;
      }
      sink.check(this.#groupPath === '' ? name : `${this.#groupPath}${name}`, passed, checkTags === undefined ? undefined : { ...checkTags, check: name });
      all &&= passed;
    }
    return all;
  }

  /** Runs `body` as a named group: its checks are prefixed `::name::` and its samples tagged `group`; its duration is `group_duration`. */
  async group<T>(name: string, body: () => Promise<T> | T): Promise<T> {
    const outer = this.#groupPath;
    this.#groupPath = `${outer}::${name}::`;
    const startMs = this.#settings.clock.nowMs();
    try {
      return await body();
    } finally {
      this.#settings.sink.trend('group_duration', this.#settings.clock.nowMs() - startMs, { ...this.#currentTags() });
      this.#groupPath = outer;
    }
  }

  /** Think time, in seconds as in k6; cut short (throwing) when the iteration is interrupted. */
  async sleep(seconds: number): Promise<void> {
    const clock = this.#settings.clock;
    await clock.sleepUntil(clock.nowMs() + Math.max(0, seconds) * 1000, this.#interrupt.signal).catch(() => {
      throw new IterationInterrupted();
    });
  }

  /** The run's clock, in milliseconds (a fake one in tests): time custom trends with it, so they share the built-in metrics' clock. */
  nowMs(): number {
    return this.#settings.clock.nowMs();
  }

  /** Records a custom metric sample: a trend (milliseconds), counter or rate. */
  trend(name: string, valueMs: number): void {
    this.#settings.sink.trend(name, valueMs, this.#currentTags());
  }

  counter(name: string, by = 1): void {
    this.#settings.sink.counter(name, by, this.#currentTags());
  }

  rate(name: string, value: boolean): void {
    this.#settings.sink.rate(name, value, this.#currentTags());
  }

  /**
   * @internal A VU kept in a VuPool joins another run: it records into that
   * run's sink, checks targets with its guard and takes its tags; its
   * connections, TLS settings and `state` stay.
   */
  joinRun(settings: VuSettings): void {
    this.#settings = settings;
    for (const tag of Object.keys(this.tags)) delete this.tags[tag];
    Object.assign(this.tags, settings.tags);
    this.http.joinRun(settings);
    this.grpc.joinRun(settings.sink, settings.guard);
  }

  /** @internal the runner starts an iteration. */
  beginIteration(intendedStartMs: number | undefined): void {
    this.iteration++;
    this.#intendedStartMs = intendedStartMs;
    this.#groupPath = '';
  }

  /** @internal the first request of an open-model iteration measures from its intended start. */
  takeIntendedStart(): number | undefined {
    const intended = this.#intendedStartMs;
    this.#intendedStartMs = undefined;
    return intended;
  }

  /** @internal interrupt the running iteration. */
  interrupt(): void {
    this.#interrupt.abort(new IterationInterrupted());
  }

  /** @internal */
  async close(): Promise<void> {
    this.grpc.close();
    await this.http.close();
  }

  #currentTags(): Record<string, string> {
    return this.#groupPath === '' ? this.tags : { ...this.tags, group: this.#groupPath.replace(/::$/, '') };
  }
}
