import { stringify } from 'yaml';
import type { PromDuration } from './options.js';

/** Alertmanager's notification timing (its route's and global settings). */
export interface AlertTiming {
  /** How long a new group waits for more alerts before its first notification. */
  readonly groupWait: PromDuration;
  /** How long a group waits before notifying about changes (new or resolved alerts). */
  readonly groupInterval: PromDuration;
  /** How long before a still-firing group is notified again. */
  readonly repeatInterval: PromDuration;
  /** After how long an alert Prometheus stopped sending counts as resolved. */
  readonly resolveTimeout: PromDuration;
}

/** The receiver's name in alertmanager.yml. */
export const RECEIVER_NAME = 'keel-webhook';

/**
 * Labels a notification groups by: one group per alert and SLO (Sloth's
 * `sloth_service`/`sloth_slo`), so an SLO's page and another's are sent
 * apart and a member's quorum alert is not held back by a gateway alert.
 */
export const GROUP_BY = ['alertname', 'severity', 'sloth_service', 'sloth_slo'] as const;

/** alertmanager.yml: every alert to one webhook, resolved notifications included. */
export function alertmanagerConfig(webhookUrl: string, timing: AlertTiming): string {
  const config = {
    global: { resolve_timeout: timing.resolveTimeout.text },
    route: {
      receiver: RECEIVER_NAME,
      group_by: [...GROUP_BY],
      group_wait: timing.groupWait.text,
      group_interval: timing.groupInterval.text,
      repeat_interval: timing.repeatInterval.text,
    },
    receivers: [{ name: RECEIVER_NAME, webhook_configs: [{ url: webhookUrl, send_resolved: true }] }],
  };
  return `# Written by keel up --observe; rewritten at every start.\n${stringify(config)}`;
}
