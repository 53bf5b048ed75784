import { badObserveInput } from './errors.js';
import { DURATION_MS_MAX, DURATION_MS_MIN, EXTRA_TARGETS_MAX } from './limits.js';

/** A duration as Prometheus and Alertmanager write it ("1s", "500ms", "5m"), with its length. */
export interface PromDuration {
  readonly text: string;
  readonly ms: number;
}

const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses one Prometheus duration of a single unit; `field` names the option in the error. */
export function parsePromDuration(field: string, value: string): PromDuration {
  const match = /^(\d{1,9})(ms|s|m|h|d)$/.exec(value.trim());
  if (!match) throw badObserveInput(`${field}: "${value}" is not a duration such as 500ms, 1s, 15s, 5m`);
  const ms = Number(match[1]) * UNIT_MS[match[2]!]!;
  if (ms < DURATION_MS_MIN || ms > DURATION_MS_MAX) throw badObserveInput(`${field}: ${value} is outside [${DURATION_MS_MIN}ms, ${DURATION_MS_MAX / 86_400_000}d]`);
  return { text: `${match[1]}${match[2]}`, ms };
}

/** One scrape target outside the cluster: a job name and host:port (its /metrics). */
export interface ScrapeTarget {
  readonly job: string;
  readonly address: string;
}

/** The job extra targets get when --observe-target names none. */
export const EXTRA_TARGET_JOB = 'keel-extra';
/** Jobs keel up gives its own processes; an extra target may not take them. */
export const MEMBERS_JOB = 'keel';
export const GATEWAY_JOB = 'keel-gateway';

/** Parses `[job=]host:port`, as --observe-target takes it. */
export function parseScrapeTarget(value: string): ScrapeTarget {
  const field = '--observe-target';
  const equals = value.indexOf('=');
  const job = equals >= 0 ? value.slice(0, equals) : EXTRA_TARGET_JOB;
  const address = equals >= 0 ? value.slice(equals + 1) : value;
  if (!/^[a-zA-Z_][a-zA-Z0-9_-]{0,63}$/.test(job)) throw badObserveInput(`${field}: job "${job}" must be a letter or _ followed by letters, digits, _ or - (at most 64)`);
  if (job === MEMBERS_JOB || job === GATEWAY_JOB) throw badObserveInput(`${field}: job "${job}" is keel up's own; name the target another job`);
  const match = /^(\[[0-9a-fA-F:.]+\]|[a-zA-Z0-9.-]+):(\d{1,5})$/.exec(address);
  const port = Number(match?.[2]);
  if (!match || port < 1 || port > 65_535) throw badObserveInput(`${field}: "${address}" is not host:port (for example 127.0.0.1:9464)`);
  return { job, address };
}

/** Collects repeated --observe-target options (commander's reducer), bounded. */
export function collectScrapeTarget(value: string, previous: readonly ScrapeTarget[] = []): ScrapeTarget[] {
  if (previous.length >= EXTRA_TARGETS_MAX) throw badObserveInput(`--observe-target: at most ${EXTRA_TARGETS_MAX} targets`);
  return [...previous, parseScrapeTarget(value)];
}

/** An http(s) URL Alertmanager can post notifications to. */
export function parseWebhookUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw badObserveInput(`--alert-webhook: "${value}" is not a URL (for example http://127.0.0.1:5001/alerts)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw badObserveInput(`--alert-webhook: ${value} must be http:// or https://`);
  return url.href;
}
