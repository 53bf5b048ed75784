/**
 * Runs a worker's share of the scenarios on one event loop: each plan's
 * executor starts iterations on VUs, the runner times them, and when a
 * schedule ends waits out its graceful stop before interrupting what is
 * still running. Everything is measured into the interval recorder.
 */
import type { Clock } from './clock.js';
import { runExecutor, type ExecutorContext } from './executors/index.js';
import { errorKind } from './errors.js';
import type { ScenarioPlan } from './options.js';
import { iterationFunction, type IterationFunction, type Scenario } from './scenario.js';
import type { MetricSink } from './sink.js';
import type { TargetGuard } from './targets.js';
import type { TlsProfile } from './tls.js';
import { IterationInterrupted, VU } from './vu.js';
import type { VuPool } from './vu-pool.js';

/** After interrupting, how long to wait for iterations that ignore the interrupt (user code that awaits nothing abortable). */
const INTERRUPT_WAIT_MS = 5_000;

export interface RunnerSettings {
  readonly clock: Clock;
  readonly sink: MetricSink;
  readonly guard: TargetGuard;
  readonly reuseConnections: boolean;
  readonly timeoutMs: number;
  readonly tls: TlsProfile;
  /** What setup() returned, frozen (undefined without a setup): every iteration's second argument. */
  readonly setupData: unknown;
  /** First VU id of this worker (ids stay unique across workers). */
  readonly vuIdBase: number;
  /** VUs to take from and give back (in-process runs): they keep their connections across runs. */
  readonly vuPool?: VuPool;
}

export class Runner {
  readonly #scenario: Scenario;
  readonly #plans: readonly ScenarioPlan[];
  readonly #settings: RunnerSettings;
  readonly #stop = new AbortController();
  readonly #activeByScenario = new Map<string, number>();
  #vusMax = 0;

  constructor(scenario: Scenario, plans: readonly ScenarioPlan[], settings: RunnerSettings) {
    this.#scenario = scenario;
    this.#plans = plans;
    this.#settings = settings;
    // Resolve every exec up front: a missing function is bad input before anything starts.
    for (const plan of plans) iterationFunction(scenario, plan.exec, plan.name);
  }

  /** Stops starting iterations and interrupts running ones (Ctrl-C, an aborting threshold). */
  stop(): void {
    this.#stop.abort(new Error('stopped'));
  }

  get stopped(): boolean {
    return this.#stop.signal.aborted;
  }

  /** Runs every plan from `startMs` on the clock; resolves when all are over and their VUs closed. */
  async run(startMs: number): Promise<void> {
    let idBase = this.#settings.vuIdBase;
    await Promise.all(
      this.#plans.map((plan) => {
        const base = idBase;
        idBase += 1_000_000;
        return this.#runPlan(plan, startMs + plan.startTimeMs, base);
      }),
    );
  }

  async #runPlan(plan: ScenarioPlan, startMs: number, idBase: number): Promise<void> {
    const { clock, sink } = this.#settings;
    const signal = this.#stop.signal;
    if (!(await clock.sleepUntil(startMs, signal).then(() => true, () => false))) return;
    const fn = iterationFunction(this.#scenario, plan.exec, plan.name);
    const vus = new Map<number, VU>();
    // Iterations in flight: the VUs running one, and a count with a waiter for the graceful stop (no promise bookkeeping per iteration).
    const busy = new Set<VU>();
    let inflight = 0;
    let drained: (() => void) | undefined;
    const context: ExecutorContext = {
      clock,
      signal,
      startMs,
      iterate: (index, intendedStartMs) => {
        let vu = vus.get(index);
        if (vu === undefined) {
          vu = this.#newVu(plan, index, idBase);
          vus.set(index, vu);
        }
        busy.add(vu);
        inflight++;
        return this.#iteration(vu, fn, intendedStartMs, () => {
          busy.delete(vu!);
          if (--inflight === 0) drained?.();
        });
      },
      dropped: () => sink.counter('dropped_iterations', 1, plan.tags),
      activeVus: (count) => this.#activeVus(plan.name, count),
    };
    await runExecutor(plan.executor, context);
    if (inflight > 0) {
      const graceful = new AbortController();
      const settled = new Promise<void>((resolve) => (drained = resolve)).then(() => graceful.abort());
      await clock.sleepUntil(clock.nowMs() + plan.gracefulStopMs, AbortSignal.any([graceful.signal, signal])).catch(() => undefined);
      for (const vu of busy) vu.interrupt();
      const waited = new AbortController();
      void settled.then(() => waited.abort());
      await clock.sleepUntil(clock.nowMs() + INTERRUPT_WAIT_MS, waited.signal).catch(() => undefined);
    }
    this.#activeVus(plan.name, 0);
    await Promise.all([...vus].map(([index, vu]) => (this.#pooled.has(vu) ? this.#settings.vuPool!.release(plan.name, index, vu) : vu.close())));
  }

  /** VUs this runner took from the pool: given back at the end, not closed. */
  readonly #pooled = new WeakSet<VU>();

  #newVu(plan: ScenarioPlan, index: number, idBase: number): VU {
    const settings = { ...this.#settings, tags: plan.tags };
    const create = (): VU => new VU(idBase + index + 1, plan.name, settings);
    const pool = this.#settings.vuPool;
    if (pool === undefined) return create();
    const { vu, pooled } = pool.take(plan.name, index, create);
    if (pooled) {
      this.#pooled.add(vu);
      // A VU from an earlier run still points at that run's sink.
      vu.joinRun(settings);
    }
    return vu;
  }

  /** Runs one iteration; `done` runs when it is over, whatever happened (never rejects). */
  async #iteration(vu: VU, fn: IterationFunction, intendedStartMs: number | undefined, done: () => void): Promise<void> {
    const { clock, sink } = this.#settings;
    vu.beginIteration(intendedStartMs);
    const beganMs = intendedStartMs ?? clock.nowMs();
    try {
      await fn(vu, this.#settings.setupData);
      sink.trend('iteration_duration', clock.nowMs() - beganMs, vu.tags);
      sink.counter('iterations', 1, vu.tags);
    } catch (error) {
      if (error instanceof IterationInterrupted || vu.signal.aborted) {
        sink.counter('interrupted_iterations', 1, vu.tags);
      } else {
        // A scenario that throws: the iteration counts as interrupted, the error by its kind (bounded).
        sink.counter('interrupted_iterations', 1, vu.tags);
        sink.error(`exception ${errorKind(error)}: ${String((error as Error)?.message ?? error).slice(0, 80)}`);
      }
    } finally {
      done();
    }
  }

  #activeVus(scenario: string, count: number): void {
    this.#activeByScenario.set(scenario, count);
    let total = 0;
    for (const value of this.#activeByScenario.values()) total += value;
    this.#vusMax = Math.max(this.#vusMax, total);
    this.#settings.sink.recorder.gauge('vus', total);
    this.#settings.sink.recorder.gauge('vus_max', this.#vusMax);
  }
}
