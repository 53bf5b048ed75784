import { badSlo } from './errors.js';

/**
 * A PromQL vector selector (`name{label="value", code=~"5.."}`): enough of
 * PromQL for an SLI that both sources can evaluate. Prometheus runs the
 * selector itself; the scrape evaluator matches scraped series with
 * `matches`, with regexes anchored as Prometheus anchors them.
 */
export type MatchOp = '=' | '!=' | '=~' | '!~';

export interface Matcher {
  readonly label: string;
  readonly op: MatchOp;
  readonly value: string;
}

export interface Selector {
  readonly metric: string;
  readonly matchers: readonly Matcher[];
}

const METRIC = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const MATCHER = /^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*(,|})/;

/** Parses `text`; `field` names the place in the error. */
export function parseSelector(text: string, field: string): Selector {
  const trimmed = text.trim();
  const name = METRIC.exec(trimmed);
  if (name === null) throw badSlo(`${field}: '${text}' is not a selector (write metric_name{label="value"})`);
  const matchers: Matcher[] = [];
  let rest = trimmed.slice(name[0].length).trim();
  if (rest.startsWith('{')) {
    rest = rest.slice(1);
    if (rest.trim() === '}') rest = '';
    else {
      for (;;) {
        const match = MATCHER.exec(rest);
        if (match === null) throw badSlo(`${field}: '${text}' is not a selector: cannot read the label matchers`);
        const value = JSON.parse(`"${match[3]!}"`) as string;
        const matcher: Matcher = { label: match[1]!, op: match[2] as MatchOp, value };
        if (matcher.op === '=~' || matcher.op === '!~') compile(matcher.value, field);
        matchers.push(matcher);
        rest = rest.slice(match[0].length);
        if (match[4] === '}') break;
        if (rest.trim() === '}') { rest = ''; break; }
      }
    }
  }
  if (rest.trim() !== '') throw badSlo(`${field}: '${text}' is not a selector: unexpected '${rest.trim()}'`);
  return { metric: name[0], matchers };
}

/** The selector with more matchers (and another metric name, for a histogram's `_bucket`/`_count`). */
export function withMatchers(selector: Selector, extra: readonly Matcher[], metric = selector.metric): Selector {
  return { metric, matchers: [...selector.matchers, ...extra] };
}

/** PromQL text of the selector. */
export function formatSelector(selector: Selector): string {
  if (selector.matchers.length === 0) return selector.metric;
  return `${selector.metric}{${selector.matchers.map((m) => `${m.label}${m.op}${JSON.stringify(m.value)}`).join(',')}}`;
}

const compiled = new Map<string, RegExp>();

function compile(pattern: string, field: string): RegExp {
  let regex = compiled.get(pattern);
  if (regex === undefined) {
    try {
      regex = new RegExp(`^(?:${pattern})$`, 'u');
    } catch (error) {
      throw badSlo(`${field}: regex "${pattern}" does not compile: ${(error as Error).message}`);
    }
    if (compiled.size < 1_000) compiled.set(pattern, regex);
  }
  return regex;
}

/** Whether a series (metric name and labels) is one the selector picks. A missing label reads as "", as in Prometheus. */
export function matches(selector: Selector, metric: string, labels: Readonly<Record<string, string>>): boolean {
  if (metric !== selector.metric) return false;
  for (const matcher of selector.matchers) {
    const value = labels[matcher.label] ?? '';
    const ok = matcher.op === '=' ? value === matcher.value || (matcher.label === 'le' && sameBound(value, matcher.value))
      : matcher.op === '!=' ? value !== matcher.value
        : matcher.op === '=~' ? compile(matcher.value, 'selector').test(value)
          : !compile(matcher.value, 'selector').test(value);
    if (!ok) return false;
  }
  return true;
}

/** Bucket bounds compare as numbers: Go writes `le="1"` where another client may write `le="1.0"`. */
function sameBound(a: string, b: string): boolean {
  return a !== '' && b !== '' && Number(a) === Number(b);
}
