import { stringify } from 'yaml';
import type { PromDuration, ScrapeTarget } from './options.js';
import { GATEWAY_JOB, MEMBERS_JOB } from './options.js';

/** A cluster member Prometheus scrapes on its client port (/metrics), labelled with its id and zone. */
export interface MemberTarget {
  readonly id: string;
  readonly zone: string;
  /** host:port of its client listener. */
  readonly address: string;
}

export interface PrometheusConfigInput {
  readonly members: readonly MemberTarget[];
  /** host:port of the gateway's admin listener, which serves its /metrics. */
  readonly gatewayAdmin?: string;
  readonly extraTargets: readonly ScrapeTarget[];
  readonly scrapeInterval: PromDuration;
  readonly evaluationInterval: PromDuration;
  /** Rule files, relative to the config file or absolute. */
  readonly ruleFiles: readonly string[];
  /** host:port of Alertmanager. */
  readonly alertmanager: string;
}

/** Prometheus's default scrape timeout; it may not exceed the interval, so a shorter interval is its own timeout. */
const SCRAPE_TIMEOUT_MS_DEFAULT = 10_000;

/**
 * prometheus.yml for a local cluster: members as job "keel" (labels
 * `member`, `zone`), the gateway as job "keel-gateway", extra targets under
 * their own jobs, the given rule files, and one Alertmanager.
 */
export function prometheusConfig(input: PrometheusConfigInput): string {
  const extraJobs = new Map<string, string[]>();
  for (const target of input.extraTargets) extraJobs.set(target.job, [...(extraJobs.get(target.job) ?? []), target.address]);
  const config = {
    global: {
      scrape_interval: input.scrapeInterval.text,
      scrape_timeout: input.scrapeInterval.ms < SCRAPE_TIMEOUT_MS_DEFAULT ? input.scrapeInterval.text : '10s',
      evaluation_interval: input.evaluationInterval.text,
    },
    rule_files: [...input.ruleFiles],
    alerting: { alertmanagers: [{ static_configs: [{ targets: [input.alertmanager] }] }] },
    scrape_configs: [
      {
        job_name: MEMBERS_JOB,
        static_configs: input.members.map((member) => ({ targets: [member.address], labels: { member: member.id, zone: member.zone } })),
      },
      ...(input.gatewayAdmin ? [{ job_name: GATEWAY_JOB, static_configs: [{ targets: [input.gatewayAdmin] }] }] : []),
      ...[...extraJobs].map(([job, targets]) => ({ job_name: job, static_configs: [{ targets }] })),
    ],
  };
  return `# Written by keel up --observe; rewritten at every start.\n${stringify(config)}`;
}
