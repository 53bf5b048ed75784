import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { generateRules, loadSlos, parseSlos, ObserveError } from '../../../src/observe/index.js';

// Rules checked with the real promtool (Debian's /usr/bin/promtool): `check rules` on the output,
// and `test rules` with input series that must fire, and must not fire, at the right minute.
const PROMTOOL = '/usr/bin/promtool';
const example = join(import.meta.dirname, '../../../examples/slo/keel.yaml');

/** Two SLOs on the same series: `api` with the default low-traffic guard (10 events), `api-unguarded` without one. */
const SLOS = `
apiVersion: openslo/v1
kind: SLI
metadata: { name: api-errors }
spec:
  ratioMetric:
    bad: { metricSource: { type: Prometheus, spec: { selector: 'http_requests_total{code=~"5.."}' } } }
    total: { metricSource: { type: Prometheus, spec: { selector: 'http_requests_total' } } }
---
apiVersion: openslo/v1
kind: SLO
metadata: { name: api }
spec:
  service: web
  indicatorRef: api-errors
  timeWindow: [{ duration: 30d, isRolling: true }]
  budgetingMethod: Occurrences
  objectives: [{ target: 0.999 }]
---
apiVersion: openslo/v1
kind: SLO
metadata:
  name: api-unguarded
  annotations: { keel.dev/min-events: "0" }
spec:
  service: web
  indicatorRef: api-errors
  timeWindow: [{ duration: 30d, isRolling: true }]
  budgetingMethod: Occurrences
  objectives: [{ target: 0.999 }]
`;

function promtool(...args: string[]): { status: number | null; output: string } {
  const result = spawnSync(PROMTOOL, args, { encoding: 'utf8', timeout: 60_000 });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

/** Counter samples, one per step: `perStep(i)` [ok, bad] events added after sample i. */
function counters(steps: number, perStep: (step: number) => [number, number]): { ok: string; bad: string } {
  const ok: number[] = [];
  const bad: number[] = [];
  let okTotal = 0;
  let badTotal = 0;
  for (let step = 0; step <= steps; step++) {
    ok.push(okTotal);
    bad.push(badTotal);
    const [okAdded, badAdded] = perStep(step);
    okTotal += okAdded;
    badTotal += badAdded;
  }
  return { ok: ok.join(' '), bad: bad.join(' ') };
}

interface AlertCheck {
  at: string;
  alert: string;
  firing: string[];
}

/** A promtool test case: input series from `counters`, and per check the SLOs (sloth_slo) whose alert must be firing (all others must not). */
function testCase(interval: string, series: { ok: string; bad: string }, checks: AlertCheck[], severity = (alert: string): string => (alert.includes('Page') ? 'page' : 'ticket')): unknown {
  return {
    interval,
    input_series: [
      { series: 'http_requests_total{code="200"}', values: series.ok },
      { series: 'http_requests_total{code="500"}', values: series.bad },
    ],
    alert_rule_test: checks.map((check) => ({
      eval_time: check.at,
      alertname: check.alert,
      exp_alerts: check.firing.map((slo) => ({
        exp_labels: { severity: severity(check.alert), sloth_severity: severity(check.alert), sloth_id: `web-${slo}`, sloth_service: 'web', sloth_slo: slo },
        exp_annotations: {
          summary: `web ${slo}: error budget burning too fast (${severity(check.alert)}: ${check.alert.includes('Page') ? '1h/5m at 14.4x or 6h/30m at 6x' : '1d/2h at 3x or 3d/6h at 1x'})`,
          title: `(${severity(check.alert)}) web ${slo} SLO error budget burn rate is too fast.`,
          runbook_url: 'docs/observe-slo.md#when-an-slo-alert-fires',
        },
      })),
    })),
  };
}

/** Writes the rules (without the budget_remaining annotation, whose value the timing cases do not pin: checked in its own case) and runs promtool test rules. */
function runPromtoolTests(directory: string, rulesText: string, tests: unknown[], evaluationInterval: string, keepBudget = false): void {
  const rules = parse(rulesText) as { groups: { rules: { annotations?: Record<string, string> }[] }[] };
  if (!keepBudget) for (const group of rules.groups) for (const rule of group.rules) delete rule.annotations?.budget_remaining;
  writeFileSync(join(directory, 'rules.yaml'), stringify(rules));
  writeFileSync(join(directory, 'test.yaml'), stringify({ rule_files: ['rules.yaml'], evaluation_interval: evaluationInterval, tests }, { lineWidth: 0 }));
  const run = promtool('test', 'rules', join(directory, 'test.yaml'));
  assert.equal(run.status, 0, run.output);
}

/** Clean traffic before each burn: 2h, so the 1h and 2h windows are full and the longer ones hold 2h of good events. */
const CLEAN_MINUTES = 120;

test('promtool check rules accepts the rules for the example, plain and time-scaled', () => {
  const directory = mkdtempSync(join(tmpdir(), 'keel-slo-rules-'));
  try {
    for (const timeScale of [1, 60]) {
      const file = join(directory, `rules-${timeScale}.yaml`);
      writeFileSync(file, generateRules(loadSlos(example), { timeScale, evaluationIntervalSeconds: timeScale === 1 ? 30 : 1 }));
      const check = promtool('check', 'rules', file);
      assert.equal(check.status, 0, check.output);
      assert.match(check.output, /SUCCESS: \d+ rules found/);
    }
    const rules = generateRules(loadSlos(example));
    for (const name of ['slo:sli_error:ratio_rate5m', 'slo:sli_error:ratio_rate3d', 'slo:sli_error:ratio_rate30d', 'slo:objective:ratio', 'slo:error_budget:ratio', 'slo:current_burn_rate:ratio', 'slo:period_error_budget_remaining:ratio']) {
      assert.ok(rules.includes(`record: ${name}`), name);
    }
    assert.match(rules, /sloth_window: 1h/);
    assert.match(rules, /notify: oncall/);
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
});

// Rules are evaluated every 2 minutes on 1-minute samples (half the promtool time of every minute).
// The checks below sit a few minutes either side of the computed firing point: rate() extrapolates at window edges.
test('promtool test rules: a fast burn pages at the right minute, a slow burn only tickets, the low-traffic guard holds', () => {
  const directory = mkdtempSync(join(tmpdir(), 'keel-slo-rules-'));
  try {
    const guarded = parseSlos(SLOS, 'slos.yaml');
    // 10 requests/s, then 5% errors (50x the 0.1% budget). 1h/5m at 14.4x: 0.05 x/60 > 0.0144 once x > 17.3 minutes of burn;
    // 6h/30m at 6x, the 6h window holding the 2h clean: 0.05 x/(120 + x) > 0.006 once x > 16.4.
    const fast = counters(CLEAN_MINUTES + 22, (minute) => (minute < CLEAN_MINUTES ? [600, 0] : [570, 30]));
    // 0.4% errors (4x): below both page factors. 3d/6h at 1x, both windows holding the 2h clean: 0.004 x/(120 + x) > 0.001 once x > 40.
    // 1d/2h at 3x would need x > 360.
    const slow = counters(CLEAN_MINUTES + 60, (minute) => (minute < CLEAN_MINUTES ? [1000, 0] : [996, 4]));
    // One request every 5 minutes, all failing after the clean part: ratios far above every factor,
    // but the 5m and 30m windows hold fewer than 10 events, so only the SLO without a guard pages.
    const low = counters(CLEAN_MINUTES + 30, (minute) => (minute % 5 !== 0 ? [0, 0] : minute < CLEAN_MINUTES ? [1, 0] : [0, 1]));
    runPromtoolTests(directory, generateRules(guarded.filter((slo) => slo.name === 'api')), [
      testCase('1m', fast, [
        { at: `${CLEAN_MINUTES + 12}m`, alert: 'KeelSloPageBurn', firing: [] },
        { at: `${CLEAN_MINUTES + 22}m`, alert: 'KeelSloPageBurn', firing: ['api'] },
      ]),
      testCase('1m', slow, [
        { at: `${CLEAN_MINUTES + 34}m`, alert: 'KeelSloTicketBurn', firing: [] },
        { at: `${CLEAN_MINUTES + 48}m`, alert: 'KeelSloTicketBurn', firing: ['api'] },
        ...[48, 60].map((minutes) => ({ at: `${CLEAN_MINUTES + minutes}m`, alert: 'KeelSloPageBurn', firing: [] })),
      ]),
    ], '2m');
    runPromtoolTests(directory, generateRules(guarded), [
      testCase('1m', low, [{ at: `${CLEAN_MINUTES + 30}m`, alert: 'KeelSloPageBurn', firing: ['api-unguarded'] }]),
    ], '2m');
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
});

test('promtool test rules: time-scaled by 60, a page fires within 15 s of a burn and resolves within 40 s of its end, on 1 s samples', () => {
  const directory = mkdtempSync(join(tmpdir(), 'keel-slo-rules-'));
  try {
    // 100 requests/s; 5% errors from 60 s to 100 s. Scaled, the page pairs are 1m/5s at 14.4x and 6m/30s at 6x;
    // the 6m window holds the 60 clean seconds, so 0.05 x/(60 + x) > 0.006 after about 8 s of burn,
    // and the alert ends once the 30 s window has no errors left in it.
    const burst = counters(140, (second) => (second >= 60 && second < 100 ? [95, 5] : [100, 0]));
    const slos = parseSlos(SLOS, 'slos.yaml').filter((slo) => slo.name === 'api');
    runPromtoolTests(directory, generateRules(slos, { timeScale: 60, evaluationIntervalSeconds: 1 }), [
      testCase('1s', burst, [
        { at: '64s', alert: 'KeelSloPageBurn', firing: [] },
        { at: '75s', alert: 'KeelSloPageBurn', firing: ['api'] },
        { at: '99s', alert: 'KeelSloPageBurn', firing: ['api'] },
        { at: '140s', alert: 'KeelSloPageBurn', firing: [] },
      ]),
    ], '1s');
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
});

test('promtool test rules: the budget_remaining annotation reads the period budget (5% errors against a 0.1% budget: -4900%)', () => {
  const directory = mkdtempSync(join(tmpdir(), 'keel-slo-rules-'));
  try {
    const steady = counters(30, () => [950, 50]);
    const rules = generateRules(parseSlos(SLOS, 'slos.yaml').filter((slo) => slo.name === 'api'));
    const cases = testCase('1m', steady, [{ at: '30m', alert: 'KeelSloPageBurn', firing: ['api'] }]) as { alert_rule_test: { exp_alerts: { exp_annotations: Record<string, string> }[] }[] };
    for (const alert of cases.alert_rule_test[0]!.exp_alerts) alert.exp_annotations.budget_remaining = '-4900%';
    runPromtoolTests(directory, rules, [cases], '1m', true);
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
});

test('generateRules refuses a time scale below 1 with a typed error', () => {
  assert.throws(() => generateRules(parseSlos(SLOS, 'slos.yaml'), { timeScale: 0.5 }), (error: unknown) => ObserveError.is(error) && error.code === 'KEEL_OBSERVE_BAD_OPTION' && /timeScale/.test(error.message));
});
