import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { loadSlos, parseSlos, ObserveError } from '../../../src/observe/index.js';
import { calendarPeriod } from '../../../src/observe/slo/calendar.js';
import { GATEWAY_LATENCY_BUCKETS, GRPC_LATENCY_BUCKETS } from '../../../src/observe/slo/keel-metrics.js';
import { GRPC_HANDLING_BUCKETS } from '../../../src/node/rpc-metrics.js';
import { GatewayMetrics } from '../../../src/gateway/metrics.js';

const example = join(import.meta.dirname, '../../../examples/slo/keel.yaml');

const BASE = `apiVersion: openslo/v1
kind: SLO
metadata: { name: api }
spec:
  service: web
  indicator:
    metadata: { name: api-errors }
    spec:
      ratioMetric:
        bad: { metricSource: { type: keel, spec: { metric: gateway-errors } } }
        total: { metricSource: { type: keel, spec: { metric: gateway-requests } } }
  timeWindow: [{ duration: 30d, isRolling: true }]
  budgetingMethod: Occurrences
  objectives: [{ target: 0.999 }]
`;

function rejects(text: string, pattern: RegExp): void {
  assert.throws(() => parseSlos(text, 'slos.yaml'), (error: unknown) => {
    assert.ok(ObserveError.is(error), String(error));
    assert.equal(error.code, 'KEEL_OBSERVE_BAD_SLO');
    assert.match(error.message, pattern);
    return true;
  });
}

test('the example loads: availability by reference with its policy, latency inline on a calendar month', () => {
  const slos = loadSlos(example);
  assert.deepEqual(slos.map((slo) => slo.id), ['keel-store-kv-availability', 'keel-store-kv-latency']);
  const [availability, latency] = slos as [typeof slos[0], typeof slos[0]];
  assert.equal(availability.target, 0.999);
  assert.equal(availability.minEvents, 20);
  assert.deepEqual(availability.alerts.map((alert) => [alert.severity, alert.pairs.map((pair) => [pair.longSeconds, pair.shortSeconds, pair.factor])]), [
    ['page', [[3600, 300, 14.4], [21600, 1800, 6]]],
    ['ticket', [[86400, 7200, 3], [259200, 21600, 1]]],
  ]);
  assert.equal(availability.alerts[0]!.labels.notify, 'oncall');
  assert.equal(availability.alerts[0]!.labels.team, 'store');
  assert.equal(latency.sli.kind, 'threshold');
  assert.equal(latency.window.kind, 'calendar');
});

test('errors name the file, the document and the field path, with a stable code', () => {
  rejects(BASE.replace('target: 0.999', 'target: 1.5'), /^slos\.yaml: document 1 \(SLO api\): spec\.objectives\[0\]\.target: must be > 0 and < 1$/);
  rejects(BASE.replace('openslo/v1', 'openslo/v2'), /document 1: apiVersion: must be 'openslo\/v1'/);
  rejects(`${BASE}---\n${BASE.replace('kind: SLO', 'kind: Thing')}`, /document 2: kind: must be one of SLO/);
  rejects(BASE.replace('budgetingMethod: Occurrences', 'budgetingMethod: Occurrences\n  budgetingMetod: x'), /spec: Unrecognized key.*budgetingMetod/);
  rejects(BASE.replace('duration: 30d', 'duration: 30x'), /spec\.timeWindow\[0\]\.duration: '30x' is not a duration/);
  rejects(BASE.replace('metric: gateway-errors', 'metric: gateway-oops'), /ratioMetric\.bad\.metricSource\.spec\.metric: unknown keel metric 'gateway-oops'/);
  rejects(BASE.replace('metric: gateway-errors', 'metric: gateway-latency'), /'gateway-latency' is a histogram; this SLI needs a counter/);
  rejects(BASE.replace("type: keel, spec: { metric: gateway-errors }", "type: Prometheus, spec: { query: 'sum(rate(x_total[5m]))' }"), /spec\.query: must contain \{\{\.window\}\}/);
  rejects(BASE.replace("type: keel, spec: { metric: gateway-errors }", "type: Prometheus, spec: { selector: 'x_total{code=~\"(\"}' }"), /spec\.selector: regex "\(" does not compile/);
  rejects(BASE.replace('isRolling: true', 'isRolling: false'), /spec\.timeWindow\[0\]\.calendar: required when isRolling is false/);
  rejects(BASE.replace('isRolling: true', 'isRolling: false, calendar: { startTime: "2026-01-01 00:00:00", timeZone: Mars/Olympus }'), /calendar\.timeZone: 'Mars\/Olympus' is not a time zone/);
  rejects(BASE.replace('budgetingMethod: Occurrences', 'budgetingMethod: Timeslices'), /spec\.objectives\[0\]\.timeSliceTarget: required with budgetingMethod Timeslices/);
  rejects(BASE.replace('objectives: [{ target: 0.999 }]', 'objectives: [{ target: 0.999 }]\n  alertPolicies: [{ alertPolicyRef: nope }]'), /spec\.alertPolicies\[0\]\.alertPolicyRef: no AlertPolicy named 'nope'/);
  rejects('a: [unclosed', /slos\.yaml: document 1: YAML:/);
  rejects('', /no document of kind SLO/);
  const latency = BASE.replace(/ratioMetric:[\s\S]*?total: .*\n/, 'thresholdMetric: { metricSource: { type: keel, spec: { metric: grpc-latency } } }\n');
  rejects(latency.replace('target: 0.999', 'op: lte, value: 0.3, target: 0.99'), /spec\.objectives\[0\]\.value: 0\.3 is not a bucket bound of grpc_server_handling_seconds/);
  rejects(latency, /spec\.objectives\[0\]\.op: a thresholdMetric SLI needs op lte or lt/);
  assert.throws(() => loadSlos('/nonexistent/slos.yaml'), (error: unknown) => ObserveError.is(error) && error.code === 'KEEL_OBSERVE_BAD_SLO' && error.message.startsWith('/nonexistent/slos.yaml: cannot read'));
});

test('alert policies: conditions by reference and inline, severities grouped, alertAfter becomes for', () => {
  const text = `${BASE.replace('objectives: [{ target: 0.999 }]', 'objectives: [{ target: 0.999 }]\n  alertPolicies: [{ alertPolicyRef: fast }]')}---
apiVersion: openslo/v1
kind: AlertPolicy
metadata: { name: fast, labels: { team: [web, edge] } }
spec:
  conditions:
    - kind: AlertCondition
      metadata: { name: two-hours }
      spec: { severity: critical, condition: { kind: burnrate, threshold: 10, lookbackWindow: 2h, alertAfter: 2m } }
  notificationTargets:
    - kind: AlertNotificationTarget
      metadata: { name: chat }
      spec: { target: slack, description: '#web' }
`;
  const [slo] = parseSlos(text, 'slos.yaml');
  assert.deepEqual(slo!.alerts.map((alert) => ({ severity: alert.severity, pairs: alert.pairs, forSeconds: alert.forSeconds, team: alert.labels.team, notify: alert.labels.notify })), [
    { severity: 'page', pairs: [{ longSeconds: 7200, shortSeconds: 600, factor: 10 }], forSeconds: 120, team: 'web,edge', notify: 'chat' },
  ]);
  rejects(text.replace('severity: critical', 'severity: urgent'), /conditions\[0\]\.spec\.severity: 'urgent' is not a severity/);
});

test('keel metric shorthands use the buckets keel exports', async () => {
  assert.deepEqual(GRPC_LATENCY_BUCKETS, GRPC_HANDLING_BUCKETS);
  const gateway = new GatewayMetrics();
  gateway.duration.observe({ route: 'r', cluster: 'c' }, 0.001);
  const text = await gateway.registry.metrics();
  const bounds = [...text.matchAll(/keel_gateway_request_duration_seconds_bucket\{le="([^"]+)"/g)].map((match) => match[1]).filter((le) => le !== '+Inf').map(Number);
  assert.deepEqual(bounds, GATEWAY_LATENCY_BUCKETS);
});

test('calendar periods follow the calendar in the window\'s time zone', () => {
  const start = { year: 2026, month: 1, day: 1, hour: 0, minute: 0, second: 0 };
  const march = calendarPeriod(start, 'M', 1, 'UTC', 30 * 86_400, Date.UTC(2026, 2, 15, 12));
  assert.equal(new Date(march.startMs).toISOString(), '2026-03-01T00:00:00.000Z');
  assert.equal(new Date(march.endMs).toISOString(), '2026-04-01T00:00:00.000Z');
  // Berlin's midnight is 23:00 UTC in winter and 22:00 UTC in summer.
  const berlin = calendarPeriod(start, 'M', 1, 'Europe/Berlin', 30 * 86_400, Date.UTC(2026, 6, 10));
  assert.equal(new Date(berlin.startMs).toISOString(), '2026-06-30T22:00:00.000Z');
  const week = calendarPeriod({ ...start, day: 5 }, 'w', 1, 'UTC', 7 * 86_400, Date.UTC(2026, 0, 20));
  assert.equal(new Date(week.startMs).toISOString(), '2026-01-19T00:00:00.000Z');
});
