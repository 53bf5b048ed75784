/**
 * Where a VU's measurements go: the worker's interval recorder, plus the
 * sub-metrics thresholds asked for (`http_req_duration{name:home}`), recorded
 * only when a sample's tags match, so untouched tags cost nothing.
 */
import type { IntervalRecorder } from './metrics.js';

export interface SubMetric {
  /** The full name, `http_req_duration{name:home}`. */
  readonly key: string;
  readonly tags: Readonly<Record<string, string>>;
}

/** Parses `metric{tag:value,tag2:value2}` keys into sub-metrics per base metric. */
export function subMetricsOf(keys: readonly string[]): Map<string, SubMetric[]> {
  const byBase = new Map<string, SubMetric[]>();
  for (const key of keys) {
    const match = /^([^{]+)\{(.+)\}$/.exec(key);
    if (match === null) continue;
    const tags: Record<string, string> = {};
    for (const part of match[2]!.split(',')) {
      const colon = part.indexOf(':');
      if (colon > 0) tags[part.slice(0, colon).trim()] = part.slice(colon + 1).trim();
    }
    const list = byBase.get(match[1]!) ?? [];
    list.push({ key, tags });
    byBase.set(match[1]!, list);
  }
  return byBase;
}

const NONE: readonly SubMetric[] = Object.freeze([]);

export class MetricSink {
  /** Whether any sub-metric was asked for (else callers need not build tag objects). */
  readonly tagged: boolean;

  constructor(
    readonly recorder: IntervalRecorder,
    readonly subMetrics: ReadonlyMap<string, readonly SubMetric[]>,
  ) {
    this.tagged = subMetrics.size > 0;
  }

  /** The sub-metrics of `name` that `tags` match; the shared empty list when none could (most samples: no allocation). */
  #matching(name: string, tags: Readonly<Record<string, string>> | undefined): readonly SubMetric[] {
    if (tags === undefined || !this.tagged) return NONE;
    const subs = this.subMetrics.get(name);
    if (subs === undefined) return NONE;
    return subs.filter((sub) => Object.entries(sub.tags).every(([tag, value]) => tags[tag] === value));
  }

  trend(name: string, valueMs: number, tags?: Readonly<Record<string, string>>): void {
    this.recorder.trend(name, valueMs);
    for (const sub of this.#matching(name, tags)) this.recorder.trend(sub.key, valueMs);
  }

  counter(name: string, by: number, tags?: Readonly<Record<string, string>>): void {
    this.recorder.counter(name, by);
    for (const sub of this.#matching(name, tags)) this.recorder.counter(sub.key, by);
  }

  rate(name: string, value: boolean, tags?: Readonly<Record<string, string>>): void {
    this.recorder.rate(name, value);
    for (const sub of this.#matching(name, tags)) this.recorder.rate(sub.key, value);
  }

  check(name: string, passed: boolean, tags?: Readonly<Record<string, string>>): void {
    this.recorder.check(name, passed);
    for (const sub of this.#matching('checks', tags)) this.recorder.rate(sub.key, passed);
  }

  error(kind: string): void {
    this.recorder.error(kind);
  }
}
