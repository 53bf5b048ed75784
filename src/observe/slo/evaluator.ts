import { alertFiring, burnRate, windowsOf, type WindowReading } from './burn.js';
import { calendarPeriod } from './calendar.js';
import { windowName } from './duration.js';
import { badOption, ObserveError } from './errors.js';
import { checkHttpUrl } from './http-get.js';
import { TARGETS_MAX, TIMESLICES_MAX } from './limits.js';
import { errorBudget, type Severity, type Sli, type Slo } from './model.js';
import { PrometheusSource } from './prometheus-source.js';
import { eventRate, promNumber, windowErrorRatio } from './promql.js';
import { checkTimeScale, MIN_EVENTS_DEFAULT } from './rules.js';
import { ScrapeSource, type TargetHealth } from './scrape-source.js';
import { withMatchers, type Selector } from './selector.js';

/**
 * Evaluates SLOs in process: error ratios and burn rates over each window,
 * the period's remaining budget, and whether each alert's condition holds
 * (the same condition the generated rule checks, low-traffic guard
 * included). The numbers come either from a Prometheus (instant queries
 * of the SLI expressions) or from scraping /metrics directly (ScrapeSource).
 */

export interface EvaluatorOptions {
  /** A Prometheus base URL (`http://127.0.0.1:9090`). Give this or `scrapeUrls`. */
  readonly prometheusUrl?: string;
  /** /metrics URLs to scrape; call `scrape()` (or `start()`) to take samples. */
  readonly scrapeUrls?: readonly string[];
  /** As in generateRules: divides every window. For tests and demos only. Default 1. */
  readonly timeScale?: number;
  /** The low-traffic guard's default (an SLO's `keel.dev/min-events` wins). Default 10. */
  readonly minEvents?: number;
  /** The clock (ms since the epoch). Default Date.now; tests drive a fake one. */
  readonly now?: () => number;
}

export interface WindowStatus {
  /** Nominal window (`5m`), as in rule names. */
  readonly window: string;
  readonly seconds: number;
  readonly errorRatio: number | null;
  readonly burnRate: number | null;
  readonly events: number | null;
}

export interface AlertStatus {
  readonly name: string;
  readonly severity: Severity;
  readonly firing: boolean;
}

export interface SloStatus {
  readonly id: string;
  readonly service: string;
  readonly name: string;
  readonly displayName: string;
  readonly target: number;
  /** `30d rolling`, or `1M calendar from 2026-12-01T00:00:00.000Z`. */
  readonly period: string;
  readonly periodErrorRatio: number | null;
  /** 1 - period error ratio / budget: 1 untouched, 0 spent, negative overspent; null without data. */
  readonly budgetRemaining: number | null;
  readonly windows: readonly WindowStatus[];
  readonly alerts: readonly AlertStatus[];
  readonly pageFiring: boolean;
  readonly ticketFiring: boolean;
}

export interface Evaluation {
  readonly atMs: number;
  readonly slos: readonly SloStatus[];
  /** Scrape targets and their health (empty with a Prometheus). */
  readonly targets: readonly TargetHealth[];
  /** Scraping: how many seconds of samples the evaluator holds; a longer window is read from what there is. Null with a Prometheus. */
  readonly observedSeconds: number | null;
}

interface CounterSides {
  readonly good?: Selector;
  readonly bad?: Selector;
  readonly total: Selector;
}

/** The counters an SLI reads, as selectors; null for raw PromQL (which only Prometheus can run). */
function counterSides(sli: Sli): CounterSides | null {
  if (sli.kind === 'threshold') {
    return {
      good: withMatchers(sli.histogram, [{ label: 'le', op: '=', value: promNumber(sli.thresholdSeconds) }], `${sli.histogram.metric}_bucket`),
      total: withMatchers(sli.histogram, [], `${sli.histogram.metric}_count`),
    };
  }
  const sides = [sli.good, sli.bad, sli.total];
  if (sides.some((side) => side !== undefined && side.kind !== 'selector')) return null;
  const selector = (side: typeof sli.total | undefined): Selector | undefined => (side?.kind === 'selector' ? side.selector : undefined);
  return { ...(sli.good ? { good: selector(sli.good)! } : {}), ...(sli.bad ? { bad: selector(sli.bad)! } : {}), total: selector(sli.total)! };
}

export class SloEvaluator {
  readonly #slos: readonly Slo[];
  readonly #scale: number;
  readonly #minEvents: number;
  readonly #now: () => number;
  readonly #prometheus: PrometheusSource | undefined;
  readonly #scrape: ScrapeSource | undefined;
  readonly #sides = new Map<string, CounterSides>();
  #timer: NodeJS.Timeout | undefined;

  constructor(slos: readonly Slo[], options: EvaluatorOptions) {
    if ((options.prometheusUrl === undefined) === (options.scrapeUrls === undefined || options.scrapeUrls.length === 0)) {
      throw badOption('give either prometheusUrl or scrapeUrls');
    }
    this.#slos = slos;
    this.#scale = checkTimeScale(options.timeScale ?? 1);
    this.#minEvents = options.minEvents ?? MIN_EVENTS_DEFAULT;
    if (!(Number.isInteger(this.#minEvents) && this.#minEvents >= 0)) throw badOption(`minEvents: must be a whole number >= 0 (got ${this.#minEvents})`);
    this.#now = options.now ?? Date.now;
    if (options.prometheusUrl !== undefined) {
      this.#prometheus = new PrometheusSource(checkHttpUrl(options.prometheusUrl, 'prometheusUrl'));
      return;
    }
    const urls = options.scrapeUrls!.map((url, index) => checkHttpUrl(url, `scrapeUrls[${index}]`));
    if (urls.length > TARGETS_MAX) throw badOption(`scrapeUrls: at most ${TARGETS_MAX} targets`);
    const selectors: Selector[] = [];
    for (const slo of slos) {
      const sides = counterSides(slo.sli);
      if (sides === null) throw new ObserveError('KEEL_OBSERVE_UNSUPPORTED', `${slo.source}: SLO ${slo.id} uses raw PromQL, which only a Prometheus can evaluate: use --prometheus, or write the SLI as a selector or keel metric`);
      this.#sides.set(slo.id, sides);
      selectors.push(...[sides.good, sides.bad, sides.total].filter((side): side is Selector => side !== undefined));
    }
    const longestSeconds = Math.max(...slos.map((slo) => Math.max(slo.window.seconds, ...windowsOf(slo.alerts))));
    this.#scrape = new ScrapeSource(urls, selectors, (longestSeconds / this.#scale) * 1000);
  }

  /** Scrape targets and their health (empty with a Prometheus). */
  get targets(): TargetHealth[] {
    return this.#scrape?.targets ?? [];
  }

  /**
   * Takes one sample from every scrape target (nothing with a Prometheus).
   * Failed targets are returned, not thrown, unless `requireAll`.
   */
  async scrape(requireAll = false): Promise<ObserveError[]> {
    return this.#scrape === undefined ? [] : this.#scrape.scrape(this.#now(), requireAll);
  }

  /** Scrapes every `intervalMs` in the background until stop() (the timer does not hold the process open). */
  start(intervalMs: number, onFailure: (failures: ObserveError[]) => void = () => {}): void {
    if (this.#timer !== undefined || this.#scrape === undefined) return;
    const tick = (): void => {
      this.scrape().then(onFailure, (error: unknown) => onFailure([ObserveError.is(error) ? error : new ObserveError('KEEL_OBSERVE_UNREACHABLE', String(error))]));
    };
    tick();
    this.#timer = setInterval(tick, intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Every SLO's status now. */
  async evaluate(): Promise<Evaluation> {
    const atMs = this.#now();
    const slos: SloStatus[] = [];
    for (const slo of this.#slos) slos.push(await this.#status(slo, atMs));
    return { atMs, slos, targets: this.targets, observedSeconds: this.#scrape?.observedSeconds(atMs) ?? null };
  }

  /**
   * Whether any SLO's page-level alert condition holds now: the question a
   * load run or an experiment asks to abort early. Reads only the page
   * alerts' windows; from scraped samples it does no I/O at all.
   */
  async pageFiring(): Promise<boolean> {
    const atMs = this.#now();
    for (const slo of this.#slos) {
      const pages = slo.alerts.filter((alert) => alert.severity === 'page');
      const windows = [...new Set(pages.flatMap((alert) => alert.pairs.flatMap((pair) => [pair.longSeconds, pair.shortSeconds])))];
      const readings = await this.#readings(slo, windows, atMs);
      if (pages.some((alert) => alertFiring(alert, slo.target, slo.minEvents ?? this.#minEvents, readings))) return true;
    }
    return false;
  }

  async #readings(slo: Slo, windows: readonly number[], atMs: number): Promise<Map<number, WindowReading>> {
    const readings = await Promise.all(windows.map((seconds) => this.#read(slo, seconds / this.#scale, atMs)));
    return new Map(windows.map((seconds, index) => [seconds, readings[index]!]));
  }

  async #status(slo: Slo, atMs: number): Promise<SloStatus> {
    const windows = windowsOf(slo.alerts);
    const { periodSeconds, period } = this.#period(slo, atMs);
    const [readings, periodReading] = await Promise.all([this.#readings(slo, windows, atMs), this.#read(slo, periodSeconds, atMs)]);
    const alerts = slo.alerts.map((alert) => ({ name: alert.name, severity: alert.severity, firing: alertFiring(alert, slo.target, slo.minEvents ?? this.#minEvents, readings) }));
    return {
      id: slo.id, service: slo.service, name: slo.name, displayName: slo.displayName, target: slo.target, period,
      periodErrorRatio: periodReading.errorRatio,
      budgetRemaining: periodReading.errorRatio === null ? null : 1 - periodReading.errorRatio / errorBudget(slo),
      windows: windows.map((seconds) => {
        const reading = readings.get(seconds)!;
        return { window: windowName(seconds), seconds, errorRatio: reading.errorRatio, burnRate: reading.errorRatio === null ? null : burnRate(reading.errorRatio, slo.target), events: reading.events };
      }),
      alerts,
      pageFiring: alerts.some((alert) => alert.severity === 'page' && alert.firing),
      ticketFiring: alerts.some((alert) => alert.severity === 'ticket' && alert.firing),
    };
  }

  /** The period's length in real seconds up to now: the rolling window, or since the calendar period's start (a time-scaled calendar window is read as rolling). */
  #period(slo: Slo, atMs: number): { periodSeconds: number; period: string } {
    const window = slo.window;
    if (window.kind === 'rolling' || this.#scale !== 1) return { periodSeconds: window.seconds / this.#scale, period: `${window.text} rolling${this.#scale === 1 ? '' : ` (scaled by ${this.#scale})`}` };
    const { startMs } = calendarPeriod(window.start, window.unit, window.count, window.timeZone, window.seconds, atMs);
    return { periodSeconds: Math.max(1, (atMs - startMs) / 1000), period: `${window.text} calendar from ${new Date(startMs).toISOString()}` };
  }

  /** One window's error ratio and event count, over `seconds` real seconds ending at `atMs`. */
  async #read(slo: Slo, seconds: number, atMs: number): Promise<WindowReading> {
    if (this.#prometheus !== undefined) {
      const [errorRatio, rate] = await Promise.all([
        this.#prometheus.query(windowErrorRatio(slo, seconds, this.#scale), atMs),
        this.#prometheus.query(eventRate(slo.sli, seconds), atMs),
      ]);
      return { errorRatio: errorRatio === null ? null : clampRatio(errorRatio), events: rate === null ? null : rate * seconds };
    }
    const sides = this.#sides.get(slo.id)!;
    const fromMs = atMs - seconds * 1000;
    const events = this.#scrape!.increase(sides.total, fromMs, atMs)?.increase ?? null;
    if (slo.budgeting.method === 'Occurrences') return { errorRatio: this.#eventRatio(sides, fromMs, atMs), events };
    return { errorRatio: this.#sliceRatio(sides, slo.budgeting.sliceSeconds / this.#scale, slo.budgeting.sliceTarget, fromMs, atMs), events };
  }

  #eventRatio(sides: CounterSides, fromMs: number, toMs: number): number | null {
    const scrape = this.#scrape!;
    const total = scrape.increase(sides.total, fromMs, toMs);
    if (total === null || total.increase <= 0) return null;
    if (sides.bad !== undefined) {
      const bad = scrape.increase(sides.bad, fromMs, toMs);
      return bad === null ? null : clampRatio(bad.increase / total.increase);
    }
    const good = scrape.increase(sides.good!, fromMs, toMs);
    return good === null ? null : clampRatio(1 - good.increase / total.increase);
  }

  /**
   * Bad slices / slices over the window. Slices end at multiples of the
   * slice length, as a Prometheus subquery's steps do; a slice without
   * events is good, a slice the samples do not reach is not counted.
   */
  #sliceRatio(sides: CounterSides, sliceSeconds: number, sliceTarget: number, fromMs: number, toMs: number): number | null {
    const sliceMs = sliceSeconds * 1000;
    let slices = 0;
    let bad = 0;
    let end = Math.floor(toMs / sliceMs) * sliceMs;
    for (let count = 0; end > fromMs && count < TIMESLICES_MAX; count++, end -= sliceMs) {
      const oldestMs = this.#scrape!.oldestMs(sides.total);
      if (oldestMs === null || oldestMs > end - sliceMs || this.#scrape!.increase(sides.total, end - sliceMs, end) === null) continue;
      slices++;
      const ratio = this.#eventRatio(sides, end - sliceMs, end);
      if (ratio !== null && ratio > 1 - sliceTarget) bad++;
    }
    return slices === 0 ? null : bad / slices;
  }
}

function clampRatio(value: number): number {
  return Math.min(1, Math.max(0, value));
}
