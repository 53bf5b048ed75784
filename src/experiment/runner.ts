import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { faultSpecOf, nemesisSchedule, startWorkload, type NemesisStep, type RunningWorkload } from '../chaos/campaign/index.js';
import { checkHistory, checkRevisions, formatFault, historyClock, parseHistory, type CheckResult, type RevisionsResult } from '../check/index.js';
import type { RunResult } from '../load/index.js';
import { loadSlos } from '../observe/slo/index.js';
import { openCluster, type ExperimentCluster } from './cluster.js';
import { badExperiment, ExperimentError } from './errors.js';
import { buildJournal, type Journal } from './journal.js';
import { CLUSTER_READY_TIMEOUT_MS, SETTLE_MS, SETTLE_POLL_MS } from './limits.js';
import { startLoad, type RunningLoad } from './load-run.js';
import { OutcomeWindow, startMonitor, type Monitor } from './monitor.js';
import { runActivity, type ActivityContext, type ActivityRun } from './probes.js';
import { renderReport } from './report.js';
import { clusterProblem, type Activity, type ClusterSpec, type Experiment, type Probe } from './schema.js';
import { buildTimeline, type FaultSpanMs } from './timeline.js';
import { runVariants, type VariantsJournal } from './variants.js';
import { decideVerdict, type VerdictResult } from './verdict.js';

/**
 * Runs one experiment: cluster up, steady state before, then the method
 * with the load, the recording clients, the seeded fault schedule and the
 * stop conditions all running at once; then (whatever happened) every
 * fault healed, the rollbacks run, the steady state after, the history
 * checked, and journal.json, history.jsonl and report.html written.
 */

export interface RunOptions {
  /** The experiment file (relative paths in it are resolved from its directory). */
  readonly file: string;
  readonly outputDir: string;
  /** Overrides the file's seed. */
  readonly seed?: number;
  /** Run on an existing keel up data dir instead of the file's cluster. */
  readonly dataDir?: string;
  /** Run on this cluster instead of the file's (`--cluster etcd`: the same scenario as an etcd control run). */
  readonly cluster?: ClusterSpec;
  /** Aborting it interrupts the run (SIGINT): it still heals and rolls back. */
  readonly signal?: AbortSignal;
  /** Progress lines (stderr in the CLI). */
  readonly log?: (line: string) => void;
}

export interface ExperimentOutcome {
  /** The run's journal; with `variants`, the journal that lists them (each variant's own is in its directory). */
  readonly journal: Journal | VariantsJournal;
  readonly verdict: VerdictResult;
  readonly outputDir: string;
}

interface FaultRecord extends FaultSpanMs {
  readonly injected: boolean;
}

const abortableSleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolvePromise) => {
    if (signal.aborted || ms <= 0) return resolvePromise();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolvePromise();
    }
    signal.addEventListener('abort', done, { once: true });
  });

/** Checks what the file refers to (SLO files, a load scenario) before anything starts: bad input, exit 2. */
export function checkReferences(experiment: Experiment, file: string): void {
  const base = dirname(resolve(file));
  for (const [index, condition] of experiment['stop-conditions'].entries()) {
    if (condition.type !== 'slo') continue;
    try {
      loadSlos(resolve(base, condition.slos));
    } catch (error) {
      throw badExperiment(file, `stop-conditions.${index}.slos: ${(error as Error).message}`);
    }
  }
  if (experiment.load?.scenario !== undefined && !existsSync(resolve(base, experiment.load.scenario))) throw badExperiment(file, `load.scenario: ${experiment.load.scenario}: no such file`);
}

export async function runExperiment(experiment: Experiment, options: RunOptions): Promise<ExperimentOutcome> {
  const variants = experiment.variantRuns ?? [];
  if (variants.length === 0) return runOne(experiment, options);
  const outputDir = resolve(options.outputDir);
  mkdirSync(outputDir, { recursive: true });
  for (const variant of variants) checkReferences(variant.experiment, options.file);
  const log = options.log ?? (() => {});
  const { journal, verdict } = await runVariants(experiment, variants, outputDir, (variant, variantDir) => runOne(variant.experiment, { ...options, outputDir: variantDir, log: (line) => log(`${variant.name}: ${line}`) }) as Promise<{ journal: Journal; verdict: VerdictResult }>, { signal: options.signal, log });
  return { journal, verdict, outputDir };
}

async function runOne(experiment: Experiment, options: RunOptions): Promise<ExperimentOutcome> {
  checkReferences(experiment, options.file);
  const log = options.log ?? (() => {});
  const seed = options.seed ?? experiment.seed ?? Math.floor(Math.random() * 2 ** 31);
  const outputDir = resolve(options.outputDir);
  mkdirSync(outputDir, { recursive: true });
  const clusterSpec = options.dataDir !== undefined ? { 'data-dir': options.dataDir } : options.cluster ?? experiment.configuration.cluster;
  const problem = clusterProblem(experiment, clusterSpec);
  if (problem !== undefined) throw badExperiment(options.file, problem);
  log(`experiment "${experiment.title}" seed ${seed}: starting the cluster`);
  const cluster = await openCluster(clusterSpec, { stateDir: join(outputDir, 'chaos-state'), seed, workDir: outputDir });
  try {
    return await new Run(experiment, options, cluster, seed, outputDir, log).execute();
  } finally {
    await cluster.stop();
  }
}

class Run {
  readonly #abort = new AbortController();
  readonly #faults: FaultRecord[] = [];
  readonly #historyLines: string[] = [];
  readonly #outcomes = new OutcomeWindow();
  readonly #context: ActivityContext;
  readonly #startedAt = Date.now();
  readonly #clockAtStart = historyClock();
  #stoppedBy: string | undefined;
  #stoppedAtMs: number | undefined;
  #interrupted = false;
  #schedule: NemesisStep[] = [];
  #monitor: Monitor | undefined;

  constructor(
    readonly experiment: Experiment,
    readonly options: RunOptions,
    readonly cluster: ExperimentCluster,
    readonly seed: number,
    readonly outputDir: string,
    readonly log: (line: string) => void,
  ) {
    this.#context = { cluster, startedAt: this.#startedAt, signal: this.#abort.signal, leaderChanges: () => leaderChanges(this.#monitor?.leaders ?? []), onFault: (fault) => this.#recordFault({ ...fault, injected: true }) };
  }

  async execute(): Promise<ExperimentOutcome> {
    const onInterrupt = (): void => {
      this.#interrupted = true;
      this.#abort.abort();
    };
    this.options.signal?.addEventListener('abort', onInterrupt, { once: true });
    if (this.options.signal?.aborted) onInterrupt();
    const hypothesis = this.experiment['steady-state-hypothesis'];
    const before = hypothesis === undefined ? null : await this.#hypothesis(hypothesis.probes, 'before');
    const run: ActivityRun[] = [];
    let load: RunResult | undefined;
    let loadStartMs = 0;
    let monitor: Monitor | undefined;
    if (before?.met !== false && !this.#abort.signal.aborted) {
      monitor = this.#monitor = startMonitor({
        conditions: this.experiment['stop-conditions'],
        experimentFile: this.options.file,
        context: this.#context,
        outcomes: this.#outcomes,
        onStop: (reason, atMs) => {
          this.log(`stop condition at ${atMs} ms: ${reason}; aborting`);
          this.#stoppedBy = reason;
          this.#stoppedAtMs = atMs;
          this.#abort.abort();
        },
      });
      const workload = this.#startHistory();
      loadStartMs = Date.now() - this.#startedAt;
      const running: RunningLoad | undefined = this.experiment.load === undefined ? undefined : startLoad(this.experiment.load, this.cluster, { experimentFile: this.options.file, outputDir: this.outputDir });
      try {
        await Promise.all([this.#method(run), this.#faultSchedule()]);
      } finally {
        // The kill switch first, at once: nothing a fault did outlives the method, however it ended.
        const healed = await this.cluster.chaos().heal().catch((error: unknown) => ({ faults: [], sweeps: [], error }));
        this.log(`healed ${healed.faults.length} fault(s)`);
        await monitor.stop();
        load = await running?.stop();
        if (running?.error() !== undefined) this.log(`load: ${running.error()!.message}`);
        await workload?.stop();
      }
    }
    const rollbacks: ActivityRun[] = [];
    for (const activity of this.experiment.rollbacks) rollbacks.push(await this.#activity(activity, new AbortController().signal));
    // Interrupted: the user wants out; whether the cluster serves again is not waited for (null in the journal).
    let recovered: boolean | null = this.#interrupted ? null : true;
    if (before?.met !== false && !this.#interrupted) {
      recovered = await this.#settled();
      this.log(recovered ? 'the cluster serves again' : 'the cluster did NOT serve again');
    }
    const ranMethod = before?.met !== false;
    const after = hypothesis === undefined || !ranMethod || this.#stoppedBy !== undefined || this.#interrupted ? null : await this.#hypothesis(hypothesis.probes, 'after');
    const check = this.#check();
    const endedAt = Date.now();
    const verdict = decideVerdict({
      steadyStateBefore: before?.met ?? null,
      steadyStateAfter: after?.met ?? null,
      activityFailed: run.some((entry) => entry.status === 'failed' && entry.activity.background !== true) || recovered === false,
      stoppedBy: this.#stoppedBy,
      interrupted: this.#interrupted,
      check: check === undefined ? null : check.verdict,
      loadThresholdsFailed: load?.summary.thresholds.filter((threshold) => !threshold.ok).map((threshold) => `${threshold.metric} ${threshold.threshold}`) ?? [],
    });
    const operations = check?.operations;
    const timeline = buildTimeline({
      durationMs: endedAt - this.#startedAt,
      ...(load !== undefined ? { load: { points: load.series, startMs: loadStartMs } } : {}),
      ...(operations !== undefined ? { operations } : {}),
      leaders: monitor?.leaders ?? [],
      burnRates: monitor?.burnRates ?? [],
      faults: this.#faults.filter((fault) => fault.injected),
      ...(this.#stoppedAtMs !== undefined ? { stoppedAtMs: this.#stoppedAtMs } : {}),
    });
    const journal = buildJournal({
      experiment: this.experiment,
      startedAt: this.#startedAt,
      endedAt,
      verdict,
      seed: this.seed,
      system: this.cluster.kind,
      before,
      after,
      run,
      rollbacks,
      schedule: this.#schedule,
      faults: this.#faults,
      stoppedBy: this.#stoppedBy,
      recovered,
      check: check === undefined ? undefined : { linearizability: check.linearizability, revisions: check.revisions, file: check.file },
      load,
      timeline,
      outputDir: this.outputDir,
    });
    writeFileSync(join(this.outputDir, 'journal.json'), `${JSON.stringify(journal, null, 2)}\n`);
    writeFileSync(join(this.outputDir, 'report.html'), renderReport(journal, timeline));
    this.log(`${verdict.status}${verdict.deviated ? ' (deviated)' : ''}: ${verdict.reason}; exit ${verdict.exitCode}`);
    return { journal, verdict, outputDir: this.outputDir };
  }

  /**
   * The cluster serves again: every member ready, and still so for
   * SETTLE_MS (a member that rejoins may start an election that makes the
   * others unready for a moment; the steady state after is judged once
   * that is over). False when that does not happen within
   * CLUSTER_READY_TIMEOUT_MS.
   */
  async #settled(): Promise<boolean> {
    const deadline = performance.now() + CLUSTER_READY_TIMEOUT_MS;
    while (performance.now() < deadline) {
      try {
        await this.cluster.waitReady(Math.max(1, deadline - performance.now()));
      } catch {
        return false;
      }
      const settleEnd = performance.now() + SETTLE_MS;
      let held = true;
      while (held && performance.now() < settleEnd) {
        await new Promise((resolvePromise) => setTimeout(resolvePromise, SETTLE_POLL_MS));
        const view = this.cluster.view();
        held = view.members.every((member) => member.pid !== null) && (await Promise.all(view.members.map((member) => this.cluster.isReady(member.clientUrl)))).every(Boolean);
      }
      if (held) return true;
      this.log('the cluster was ready and then not: waiting for it to settle');
    }
    return false;
  }

  async #hypothesis(probes: readonly Probe[], when: string): Promise<{ met: boolean; probes: ActivityRun[] }> {
    const runs: ActivityRun[] = [];
    for (const probe of probes) {
      const result = await runActivity(probe, this.#context);
      runs.push(result);
      if (result.status === 'failed') {
        this.log(`steady state ${when}: probe ${probe.name} failed (${result.exception ?? `output ${JSON.stringify(result.output)}`})`);
        return { met: false, probes: runs };
      }
    }
    this.log(`steady state ${when}: met`);
    return { met: true, probes: runs };
  }

  async #activity(activity: Activity, signal: AbortSignal): Promise<ActivityRun> {
    await abortableSleep(activity.pauses?.before ?? 0, signal);
    const result = await runActivity(activity, this.#context);
    this.log(`${activity.type} ${activity.name}: ${result.status}${result.exception !== undefined ? ` (${result.exception})` : ''}`);
    await abortableSleep(activity.pauses?.after ?? 0, signal);
    return result;
  }

  async #method(run: ActivityRun[]): Promise<void> {
    for (const activity of this.experiment.method) {
      if (this.#abort.signal.aborted) return;
      run.push(await this.#activity(activity, this.#abort.signal));
    }
  }

  /** The extension `faults`: the seeded schedule, one fault at a time, each healed by its lease (or at once on abort). */
  async #faultSchedule(): Promise<void> {
    const spec = this.experiment.faults;
    if (spec === undefined) return;
    this.#schedule = nemesisSchedule({ seed: this.seed, runMs: spec.duration, faults: spec['one-of'], faultMs: spec.for, quietMs: spec.every });
    const startedAt = performance.now();
    for (const step of this.#schedule) {
      await abortableSleep(startedAt + step.atMs - performance.now(), this.#abort.signal);
      if (this.#abort.signal.aborted) return;
      const startMs = Date.now() - this.#startedAt;
      try {
        const fault = await this.cluster.chaos().inject(faultSpecOf(step));
        const injected = fault.injected && fault.outcomes.every((line) => !/skipped|not running/.test(line));
        this.log(`fault ${step.fault} for ${step.durationMs} ms: ${fault.description}`);
        this.#recordFault({ name: step.fault, description: fault.description, startMs, endMs: startMs + step.durationMs, injected });
        await abortableSleep(step.durationMs, this.#abort.signal);
        await fault.heal();
      } catch (error) {
        // No leader to pick (mid-election), a member down: the schedule moves on, and says so.
        this.#recordFault({ name: step.fault, description: `not injected: ${(error as Error).message}`, startMs, endMs: startMs, injected: false });
        await abortableSleep(step.durationMs, this.#abort.signal);
      }
    }
    await abortableSleep(startedAt + spec.duration - performance.now(), this.#abort.signal);
  }

  #recordFault(fault: FaultRecord): void {
    this.#faults.push(fault);
    const toClock = (ms: number): number => this.#clockAtStart + ms * 1e6;
    this.#historyLines.push(formatFault({ name: fault.name, description: fault.description, start: toClock(fault.startMs), end: toClock(fault.endMs) }));
  }

  #startHistory(): RunningWorkload | undefined {
    const spec = this.experiment.history;
    if (spec === undefined) return undefined;
    const endpoints = spec.via === 'gateway' && this.cluster.gatewayUrl !== undefined ? [this.cluster.gatewayUrl] : this.cluster.endpoints;
    return startWorkload({
      endpoints,
      clients: spec.clients,
      keys: spec.keys,
      seed: this.seed,
      callTimeoutMs: spec['call-timeout'],
      watch: spec.watch,
      // Fresh keys for every run: on an existing cluster (--data-dir) an earlier run's values would read as never written.
      keyPrefix: `keel-experiment/${this.seed}-${this.#startedAt.toString(36)}/k`,
      sink: (line) => {
        this.#historyLines.push(line);
        const type = /"type":"(ok|fail|info)"/.exec(line)?.[1];
        if (type !== undefined) this.#outcomes.add(Date.now() - this.#startedAt, !served(type, /"f":"cas"/.test(line) ? 'cas' : ''));
      },
    });
  }

  /** The history written and checked: linearizability under the file's model, and etcd's revision rules. */
  #check(): { verdict: CheckResult['verdict']; linearizability: CheckResult; revisions: RevisionsResult; file: string; operations: { call: number; ret: number; type: 'ok' | 'fail' | 'info' }[] } | undefined {
    const spec = this.experiment.history;
    if (spec === undefined) return undefined;
    const file = join(this.outputDir, 'history.jsonl');
    const text = `${this.#historyLines.join('\n')}\n`;
    writeFileSync(file, text);
    const history = parseHistory(file, text, 'keel');
    const linearizability = checkHistory(history, { model: spec.model, timeLimitMs: spec['check-time-limit'] });
    const revisions = checkRevisions(history);
    const verdict = revisions.verdict === 'violation' ? 'violation' : linearizability.verdict;
    const toMs = (time: number): number => (time - this.#clockAtStart) / 1e6;
    const operations = history.operations.map((operation) => ({ call: toMs(operation.call), ret: Number.isFinite(operation.ret) ? toMs(operation.ret) : Infinity, type: served(operation.type, operation.f) ? ('ok' as const) : operation.type }));
    this.log(`history: ${history.operations.length} operations; linearizability ${linearizability.verdict}, revisions ${revisions.verdict}`);
    return { verdict, linearizability, revisions, file, operations };
  }
}

export { ExperimentError };

/** Changes of the sampled leader (a sample with no leader is skipped: an election in progress is not a change). */
export function leaderChanges(samples: readonly { readonly value: string | null }[]): number {
  let changes = 0;
  let last: string | null = null;
  for (const { value } of samples) {
    if (value === null) continue;
    if (last !== null && value !== last) changes++;
    last = value;
  }
  return changes;
}

/**
 * Whether the store served an operation, for availability, the timeline
 * and the history-errors stop condition: `ok`, and also a compare-and-set
 * that `fail`ed, because that is mostly its compare not matching (an answer,
 * not an outage). The history does not tell that from a CAS refused with an
 * error that proves it was not applied; such a refusal is counted served too.
 */
export function served(type: string, f: string): boolean {
  return type === 'ok' || (type === 'fail' && f === 'cas');
}
