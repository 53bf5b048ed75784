import { writeFileSync } from 'node:fs';
import { checkHistory, checkRevisions, formatFault, historyClock, parseHistory, type CheckResult, type RevisionsResult } from '../../check/index.js';
import type { Chaos } from '../controller.js';
import { faultSpecOf, nemesisSchedule, type NemesisFaultName, type NemesisStep } from './schedule.js';
import { longestWriteGapMs, startWorkload } from './workload.js';

/**
 * A Jepsen-style run: clients spread over every member record reads,
 * writes and compare-and-sets on a few keys while a seeded nemesis injects
 * faults through keel chaos; then every fault is healed, the cluster must
 * serve again, and the history is checked for linearizability (a CAS
 * register per key). The same run drives keel or, as a control, etcd.
 */

/** The system under test, as the runner sees it. */
export interface CampaignTarget {
  /** 'keel' or 'etcd', for the report. */
  readonly name: string;
  readonly endpoints: readonly string[];
  /** A fault injector for the cluster as it is now (pids change across restarts). */
  chaos(): Chaos;
  /** Brings back members a fault killed, where nothing supervises them (keel up restarts its own). */
  recover?(): Promise<void>;
  /** Resolves once the cluster serves again: every member up and one leader. */
  waitHealthy(timeoutMs: number): Promise<void>;
}

export interface CampaignOptions {
  readonly seed: number;
  /** How long the nemesis runs (ms); the clients run through it and through the recovery after. */
  readonly runMs: number;
  readonly clients: number;
  readonly keys: number;
  readonly faults: readonly NemesisFaultName[];
  readonly faultMs: readonly [number, number];
  readonly quietMs: readonly [number, number];
  /** A client call's deadline (ms). */
  readonly callTimeoutMs: number;
  /** How long recovery may take after the last heal before the run counts as not recovered (ms). */
  readonly recoveryTimeoutMs: number;
  /** The checker's budget (ms); past it the verdict is "unknown", never "ok". */
  readonly checkTimeLimitMs: number;
  /** Where the history goes (keel JSONL), if anywhere. */
  readonly historyFile?: string;
}

export interface CampaignFault {
  readonly atMs: number;
  readonly fault: NemesisFaultName;
  readonly durationMs: number;
  /** What chaos did, or why it could not (no leader, the target already down). */
  readonly outcome: string;
  readonly injected: boolean;
}

export interface CampaignReport {
  readonly target: string;
  readonly seed: number;
  readonly runMs: number;
  readonly operations: number;
  readonly ok: number;
  readonly failed: number;
  readonly unknown: number;
  readonly faults: readonly CampaignFault[];
  /** The longest spell of the faulty period with no successful write (ms). */
  readonly longestWriteGapMs: number;
  /** Successful writes per second over the faulty period. */
  readonly writesPerSecond: number;
  readonly recovered: boolean;
  /** violation if either the linearizability check or etcd's revision rules found one. */
  readonly verdict: CheckResult['verdict'];
  readonly check: CheckResult;
  /** etcd's revisioned whole-history rules (revisions in real-time order, reads at R, gap-free watches). */
  readonly revisions: RevisionsResult;
  readonly historyFile: string | undefined;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

export async function runCampaign(target: CampaignTarget, options: CampaignOptions): Promise<CampaignReport> {
  const lines: string[] = [];
  const steps = nemesisSchedule({ seed: options.seed, runMs: options.runMs, faults: options.faults, faultMs: options.faultMs, quietMs: options.quietMs });
  const workload = startWorkload({
    endpoints: target.endpoints,
    clients: options.clients,
    keys: options.keys,
    seed: options.seed,
    callTimeoutMs: options.callTimeoutMs,
    sink: (line) => lines.push(line),
  });
  const started = performance.now();
  const faults: CampaignFault[] = [];
  let recovered = false;
  try {
    for (const step of steps) {
      await sleep(started + step.atMs - performance.now());
      const faultStart = historyClock();
      const fault = await applyStep(target, step);
      faults.push(fault);
      // Into the history too, on the recorders' clock, so `keel check --html` draws it behind the operations.
      lines.push(formatFault({ name: step.fault, description: fault.outcome, start: faultStart, end: historyClock() }));
    }
    await sleep(started + options.runMs - performance.now());
  } finally {
    // The kill switch, whatever happened above: nothing outlives the run.
    await target.chaos().heal();
    await target.recover?.();
  }
  const faultyUntilMs = performance.now() - started;
  try {
    await target.waitHealthy(options.recoveryTimeoutMs);
    recovered = true;
  } catch {
    recovered = false;
  }
  const stats = await workload.stop();
  const text = `${lines.join('\n')}\n`;
  if (options.historyFile) writeFileSync(options.historyFile, text);
  const history = parseHistory(options.historyFile ?? `${target.name}-seed-${options.seed}.jsonl`, text, 'keel');
  const check = checkHistory(history, { model: 'cas-register', timeLimitMs: options.checkTimeLimitMs });
  const revisions = checkRevisions(history);
  const counts = { ok: 0, fail: 0, info: 0 };
  for (const operation of history.operations) counts[operation.type]++;
  const writes = stats.successfulWritesAtMs.filter((at) => at <= faultyUntilMs).length;
  return {
    target: target.name,
    seed: options.seed,
    runMs: options.runMs,
    operations: history.operations.length,
    ok: counts.ok,
    failed: counts.fail,
    unknown: counts.info,
    faults,
    longestWriteGapMs: Math.round(longestWriteGapMs(stats.successfulWritesAtMs, 0, faultyUntilMs)),
    writesPerSecond: Math.round(writes / (faultyUntilMs / 1_000)),
    recovered,
    verdict: revisions.verdict === 'violation' ? 'violation' : check.verdict,
    check,
    revisions,
    historyFile: options.historyFile,
  };
}

/** Injects one step, waits out its duration, heals it and brings back what it killed. */
async function applyStep(target: CampaignTarget, step: NemesisStep): Promise<CampaignFault> {
  let outcome: string;
  let injected = false;
  try {
    const fault = await target.chaos().inject(faultSpecOf(step));
    injected = fault.injected && fault.outcomes.every((line) => !/skipped|not running/.test(line));
    // The steps that went as planned are summed up in one word; anything else is kept.
    const unusual = fault.outcomes.filter((line) => !line.endsWith(': done'));
    outcome = [fault.description, ...(unusual.length > 0 ? unusual : ['done'])].join('; ');
    await sleep(step.durationMs);
    await fault.heal();
  } catch (error) {
    // No leader to pick (mid-election), a member down: the nemesis moves on, and says so.
    outcome = `not injected: ${(error as Error).message}`;
    await sleep(step.durationMs);
  }
  await target.recover?.();
  return { atMs: step.atMs, fault: step.fault, durationMs: step.durationMs, outcome, injected };
}

/** One line per run, for tables and logs. */
export function describeReport(report: CampaignReport): string {
  const injected = report.faults.filter((fault) => fault.injected).length;
  return `${report.target} seed ${report.seed}: ${report.operations} ops (${report.ok} ok, ${report.failed} failed, ${report.unknown} unknown), ` +
    `${injected}/${report.faults.length} faults, longest write gap ${report.longestWriteGapMs} ms, ${report.writesPerSecond} writes/s, ` +
    `${report.recovered ? 'recovered' : 'NOT recovered'}, verdict ${report.verdict} (linearizability ${report.check.verdict}, revisions ${report.revisions.verdict}: ` +
    `${report.revisions.watchEvents} watch events, ${report.revisions.violationCount} violations${report.revisions.reason === undefined ? '' : `: ${report.revisions.reason}`})`;
}
