import { arch, hostname, platform, release } from 'node:os';
import type { NemesisStep } from '../chaos/campaign/index.js';
import type { CheckResult, RevisionsResult } from '../check/index.js';
import type { RunResult } from '../load/index.js';
import type { ActivityRun } from './probes.js';
import type { Experiment } from './schema.js';
import type { FaultSpanMs, Timeline } from './timeline.js';
import type { VerdictResult } from './verdict.js';

/**
 * journal.json, shaped like Chaos Toolkit's journal (status, deviated,
 * steady_states before/after/during, run[], rollbacks[], start, end,
 * duration in seconds), with keel's extensions under `keel`: the seed and
 * the fault schedule, the faults as run, the stop condition, the checker's
 * verdict, the load's summary, the timeline and the postmortem figures.
 */

export interface HypothesisRun {
  readonly met: boolean;
  readonly probes: readonly ActivityRun[];
}

export interface JournalInputs {
  readonly experiment: Experiment;
  readonly startedAt: number;
  readonly endedAt: number;
  readonly verdict: VerdictResult;
  readonly seed: number;
  readonly before: HypothesisRun | null;
  readonly after: HypothesisRun | null;
  readonly run: readonly ActivityRun[];
  readonly rollbacks: readonly ActivityRun[];
  /** What ran: keel, or etcd (a control run). */
  readonly system: 'keel' | 'etcd' | 'services';
  readonly schedule: readonly NemesisStep[];
  readonly faults: readonly (FaultSpanMs & { readonly injected: boolean })[];
  readonly stoppedBy: string | undefined;
  readonly recovered: boolean | null;
  readonly check: { readonly linearizability: CheckResult; readonly revisions: RevisionsResult; readonly file: string } | undefined;
  readonly load: RunResult | undefined;
  readonly timeline: Timeline;
  readonly outputDir: string;
}

export type Journal = ReturnType<typeof buildJournal>;

const hypothesisEntry = (hypothesis: HypothesisRun | null) => (hypothesis === null ? null : { steady_state_met: hypothesis.met, probes: hypothesis.probes.map(activityEntry) });

function activityEntry(run: ActivityRun) {
  const { atMs: _atMs, ...entry } = run;
  return entry;
}

export function buildJournal(inputs: JournalInputs) {
  const { linearizability, revisions } = inputs.check ?? {};
  return {
    'chaoslib-version': null,
    platform: `${platform()} ${release()} ${arch()}`,
    node: hostname(),
    experiment: inputs.experiment,
    start: new Date(inputs.startedAt).toISOString(),
    end: new Date(inputs.endedAt).toISOString(),
    duration: (inputs.endedAt - inputs.startedAt) / 1_000,
    status: inputs.verdict.status,
    deviated: inputs.verdict.deviated,
    steady_states: { before: hypothesisEntry(inputs.before), after: hypothesisEntry(inputs.after), during: [] as unknown[] },
    run: inputs.run.map(activityEntry),
    rollbacks: inputs.rollbacks.map(activityEntry),
    keel: {
      seed: inputs.seed,
      system: inputs.system,
      exit_code: inputs.verdict.exitCode,
      reason: inputs.verdict.reason,
      stopped_by: inputs.stoppedBy ?? null,
      recovered: inputs.recovered,
      schedule: inputs.schedule,
      faults: inputs.faults,
      check:
        linearizability === undefined || revisions === undefined
          ? null
          : {
              verdict: revisions.verdict === 'violation' ? 'violation' : linearizability.verdict,
              linearizability: { verdict: linearizability.verdict, operations: linearizability.operations, keys: linearizability.keys, counterexample: linearizability.counterexample ?? null },
              revisions: { verdict: revisions.verdict, watchers: revisions.watchers, watch_events: revisions.watchEvents, violations: revisions.violations.slice(0, 20) },
              history: inputs.check!.file,
            },
      load: inputs.load === undefined ? null : { passed: inputs.load.summary.passed, requests: inputs.load.summary.counters.http_reqs?.count ?? 0, failed: inputs.load.summary.rates.http_req_failed?.trues ?? 0, thresholds: inputs.load.summary.thresholds },
      postmortem: postmortem(inputs),
      timeline: inputs.timeline,
      files: { journal: 'journal.json', report: 'report.html', history: inputs.check === undefined ? null : 'history.jsonl' },
    },
  };
}

/** The postmortem's figures: what happened, the impact, time to detect, time to recover. */
export function postmortem(inputs: Pick<JournalInputs, 'faults' | 'stoppedBy' | 'timeline' | 'verdict' | 'recovered'> & { readonly run?: readonly ActivityRun[] }) {
  const restores = restoresMs(inputs.run ?? []);
  const impacts = inputs.timeline.faults;
  const detect = impacts.map((fault) => fault.detectMs).filter((ms): ms is number => ms !== null);
  const recover = impacts.map((fault) => fault.recoverMs).filter((ms): ms is number => ms !== null);
  const { ok, errors } = inputs.timeline.totals;
  return {
    what_happened: [
      ...inputs.faults.map((fault) => `${(fault.startMs / 1_000).toFixed(1)} s: ${fault.name}${fault.injected ? '' : ' (not injected)'}: ${fault.description}`),
      ...(inputs.stoppedBy !== undefined ? [`${((inputs.timeline.stoppedAtMs ?? 0) / 1_000).toFixed(1)} s: aborted by ${inputs.stoppedBy}`] : []),
      `verdict: ${inputs.verdict.status}: ${inputs.verdict.reason}`,
    ],
    impact: { succeeded: ok, failed: errors, error_ratio: ok + errors === 0 ? null : errors / (ok + errors), leader_changes: Math.max(0, inputs.timeline.leaderChanges.length - 1), recovered: inputs.recovered },
    time_to_detect_ms: detect.length === 0 ? null : Math.max(...detect),
    time_to_recover_ms: recover.length === 0 ? null : Math.max(...recover),
    faults_without_recovery: impacts.filter((fault) => fault.detectMs !== null && fault.recoverMs === null).length,
    /** Each `wait-ready` of the method: ms until every process (members, gateway, backends) served again after what came before it. */
    time_to_restore_ms: restores,
    /** Their mean: the mean time to repair of the supervisor's restores. */
    mttr_ms: restores.length === 0 ? null : Math.round(restores.reduce((sum, ms) => sum + ms, 0) / restores.length),
  };
}

/** The outputs of the method's `wait-ready` actions that succeeded (each the ms it waited). */
function restoresMs(run: readonly ActivityRun[]): number[] {
  return run
    .filter((entry) => entry.status === 'succeeded' && entry.activity.provider.type === 'keel' && entry.activity.provider.func === 'wait-ready' && typeof entry.output === 'number')
    .map((entry) => entry.output as number);
}
