/**
 * Runs every check on a fixed interval. A check's next run is planned only
 * when its current run has finished, so two runs of one check never overlap:
 * a run that outlasts the interval makes the scheduler skip the slots it
 * covered (counted, as blackbox_exporter's scrape would simply have timed
 * out) and start again on the next slot of the original grid. Runs of
 * different checks share one concurrency bound.
 */
import type { Check } from './config.js';
import type { CheckResult } from './result.js';
import { runCheck } from './runner.js';
import { Semaphore } from './semaphore.js';

export interface SchedulerOptions {
  readonly intervalMs: number;
  readonly concurrency: number;
  readonly onResult: (result: CheckResult, check: Check) => void;
  /** Called with how many slots were skipped because the previous run was still going. */
  readonly onSkipped?: (check: Check, count: number) => void;
}

export class ProbeScheduler {
  readonly #checks: readonly Check[];
  readonly #options: SchedulerOptions;
  readonly #semaphore: Semaphore;
  readonly #timers = new Map<string, NodeJS.Timeout>();
  readonly #inFlight = new Map<string, Promise<void>>();
  #stopped = false;

  constructor(checks: readonly Check[], options: SchedulerOptions) {
    this.#checks = checks;
    this.#options = options;
    this.#semaphore = new Semaphore(options.concurrency);
  }

  /** Starts every check now, then on its interval. */
  start(): void {
    for (const check of this.#checks) this.#run(check, performance.now());
  }

  /** Plans no more runs and waits for those in flight (each bounded by its check's timeout). */
  async stop(): Promise<void> {
    this.#stopped = true;
    for (const timer of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
    await Promise.all(this.#inFlight.values());
  }

  #run(check: Check, slotStart: number): void {
    this.#timers.delete(check.name);
    if (this.#stopped) return;
    const run = this.#semaphore
      .run(() => runCheck(check))
      .then((result) => {
        try {
          this.#options.onResult(result, check);
        } catch {
          // A failing observer (a metrics or log sink) must not stop the schedule; runCheck itself never rejects.
        }
      })
      .finally(() => {
        this.#inFlight.delete(check.name);
        this.#planNext(check, slotStart);
      });
    this.#inFlight.set(check.name, run);
  }

  #planNext(check: Check, slotStart: number): void {
    if (this.#stopped) return;
    const intervalMs = this.#options.intervalMs;
    const now = performance.now();
    // The first slot of the grid that has not begun yet; the ones this run covered are skipped.
    const slots = Math.max(1, Math.ceil((now - slotStart) / intervalMs));
    if (slots > 1) this.#options.onSkipped?.(check, slots - 1);
    const nextStart = slotStart + slots * intervalMs;
    this.#timers.set(check.name, setTimeout(() => this.#run(check, nextStart), Math.max(0, nextStart - now)));
  }
}
