import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { describeReport, runCampaign, type CampaignReport, type CampaignTarget, type NemesisFaultName } from '../../../src/chaos/campaign/index.js';

/**
 * The short Jepsen-style run both campaign tests make: 6 clients on 3 keys,
 * faults of 1 to 2.5 s with 1 to 2 s between them, then the checks every
 * run must pass (linearizable, etcd's revision rules hold, watch streams
 * recorded, recovered, faults injected, enough operations done). The report's lines go to the test's diagnostics.
 */
export async function shortRun(t: TestContext, target: CampaignTarget, options: { seed: number; runMs: number; faults: readonly NemesisFaultName[]; historyFile: string }): Promise<CampaignReport> {
  const report = await runCampaign(target, {
    seed: options.seed,
    runMs: options.runMs,
    clients: 6,
    keys: 3,
    faults: options.faults,
    faultMs: [1_000, 2_500],
    quietMs: [1_000, 2_000],
    callTimeoutMs: 2_000,
    recoveryTimeoutMs: 60_000,
    checkTimeLimitMs: 60_000,
    historyFile: options.historyFile,
  });
  t.diagnostic(describeReport(report));
  for (const fault of report.faults) t.diagnostic(`  ${fault.atMs} ms ${fault.fault} ${fault.durationMs} ms: ${fault.outcome}`);
  assert.equal(report.check.verdict, 'ok', `not linearizable: ${JSON.stringify(report.check.counterexample ?? report.check.undecided).slice(0, 2_000)}`);
  assert.equal(report.revisions.verdict, 'ok', `revision rules broken: ${report.revisions.violations.map((violation) => `${violation.kind}: ${violation.message}`).join('\n')}`);
  assert.equal(report.verdict, 'ok');
  assert.ok(report.revisions.watchEvents > 0 && report.revisions.watchers >= 1, 'watch streams were recorded');
  assert.ok(report.recovered, 'the cluster serves again after the last heal');
  assert.ok(report.faults.filter((fault) => fault.injected).length >= 2, 'faults were injected');
  assert.ok(report.ok >= 50, `too few operations succeeded: ${report.ok}`);
  return report;
}
