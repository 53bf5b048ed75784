import { fetchJson } from './fetch-bounded.js';
import { ALERTS_SHOWN_MAX, TEXT_CHARS_MAX } from './limits.js';
import type { AlertView, AlertsView } from './state.js';

/**
 * Alerts from Prometheus (`/api/v1/alerts`: firing and pending rules) and
 * from Alertmanager (`/api/v2/alerts`: active and suppressed), when their
 * URLs are given. A source that does not answer is named in `errors`.
 */

interface PrometheusAlert {
  labels?: Record<string, unknown>;
  annotations?: Record<string, unknown>;
  state?: unknown;
  activeAt?: unknown;
}

interface AlertmanagerAlert {
  labels?: Record<string, unknown>;
  annotations?: Record<string, unknown>;
  status?: { state?: unknown };
  startsAt?: unknown;
}

export async function pollAlerts(prometheusUrl: string | undefined, alertmanagerUrl: string | undefined): Promise<AlertsView> {
  const configured = prometheusUrl !== undefined || alertmanagerUrl !== undefined;
  const errors: string[] = [];
  const alerts: AlertView[] = [];
  const jobs: Promise<void>[] = [];
  if (prometheusUrl !== undefined) {
    // .catch after .then: a body of the wrong shape (prometheusAlerts throws) is reported like a failed request
    jobs.push(fetchJson(`${prometheusUrl}/api/v1/alerts`)
      .then((body) => void alerts.push(...prometheusAlerts(body)))
      .catch((error: Error) => void errors.push(`prometheus ${prometheusUrl}: ${error.message}`)));
  }
  if (alertmanagerUrl !== undefined) {
    jobs.push(fetchJson(`${alertmanagerUrl}/api/v2/alerts`)
      .then((body) => void alerts.push(...alertmanagerAlerts(body)))
      .catch((error: Error) => void errors.push(`alertmanager ${alertmanagerUrl}: ${error.message}`)));
  }
  await Promise.all(jobs);
  // Firing first, then by name: the page shows what needs a person at the top.
  alerts.sort((a, b) => rank(a.state) - rank(b.state) || a.name.localeCompare(b.name));
  return { configured, alerts: alerts.slice(0, ALERTS_SHOWN_MAX), more: Math.max(0, alerts.length - ALERTS_SHOWN_MAX), errors };
}

function rank(state: string): number {
  return state === 'firing' || state === 'active' ? 0 : 1;
}

function text(value: unknown): string {
  return typeof value === 'string' ? value.slice(0, TEXT_CHARS_MAX) : '';
}

function prometheusAlerts(body: unknown): AlertView[] {
  const list = (body as { data?: { alerts?: unknown } } | null)?.data?.alerts;
  if (!Array.isArray(list)) throw new Error('answered without data.alerts (is this Prometheus?)');
  return (list as PrometheusAlert[]).slice(0, ALERTS_SHOWN_MAX * 2).map((alert) => ({
    source: 'prometheus',
    name: text(alert.labels?.alertname) || '(unnamed)',
    state: text(alert.state),
    severity: text(alert.labels?.severity),
    summary: text(alert.annotations?.summary) || text(alert.annotations?.description),
    ...(typeof alert.activeAt === 'string' ? { since: text(alert.activeAt) } : {}),
  }));
}

function alertmanagerAlerts(body: unknown): AlertView[] {
  if (!Array.isArray(body)) throw new Error('answered something that is not a list of alerts (is this Alertmanager?)');
  return (body as AlertmanagerAlert[]).slice(0, ALERTS_SHOWN_MAX * 2).map((alert) => ({
    source: 'alertmanager',
    name: text(alert.labels?.alertname) || '(unnamed)',
    state: text(alert.status?.state),
    severity: text(alert.labels?.severity),
    summary: text(alert.annotations?.summary) || text(alert.annotations?.description),
    ...(typeof alert.startsAt === 'string' ? { since: text(alert.startsAt) } : {}),
  }));
}
