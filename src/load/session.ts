/**
 * One worker's side of a run, whatever carries its messages (a forked
 * process's IPC, an agent's TCP connection, or a direct call in-process):
 * load the scenario, wait for the agreed start, run, send the interval
 * metrics once a second, send the last ones when done.
 */
import { realClock, type Clock } from './clock.js';
import { isLoadError } from './errors.js';
import { SNAPSHOT_INTERVAL_MS } from './limits.js';
import type { FromWorker, Job, ToWorker } from './messages.js';
import { IntervalRecorder } from './metrics.js';
import { Runner } from './runner.js';
import { loadScenario, type Scenario } from './scenario.js';
import type { VuPool } from './vu-pool.js';

/** What only a session in the coordinator's own process can be given: closures and live VUs. */
export interface InProcessParts {
  /** The scenario itself, instead of loading `job.scenarioFile`. */
  readonly scenario?: Scenario;
  readonly vuPool?: VuPool;
}
import { MetricSink, subMetricsOf } from './sink.js';
import { TargetGuard } from './targets.js';
import { decodeSetupData } from './setup-data.js';
import { TlsProfile } from './tls.js';

export class WorkerSession {
  readonly #send: (message: FromWorker) => void;
  readonly #clock: Clock;
  #runner: Runner | undefined;
  #recorder: IntervalRecorder | undefined;
  #state: 'idle' | 'loading' | 'ready' | 'running' | 'done' = 'idle';
  #stopRequested = false;
  readonly finished: Promise<void>;
  #finish!: () => void;

  readonly #inProcess: InProcessParts;

  constructor(send: (message: FromWorker) => void, clock: Clock = realClock, inProcess: InProcessParts = {}) {
    this.#send = send;
    this.#clock = clock;
    this.#inProcess = inProcess;
    this.finished = new Promise((resolve) => (this.#finish = resolve));
  }

  handle(message: ToWorker): void {
    switch (message.type) {
      case 'load':
        if (this.#state === 'idle') void this.#load(message.job);
        return;
      case 'start':
        if (this.#state === 'ready') void this.#run(message.atEpochMs);
        return;
      case 'stop':
        this.#stopRequested = true;
        this.#runner?.stop();
        if (this.#state === 'idle' || this.#state === 'ready') this.#end(undefined);
        return;
    }
  }

  async #load(job: Job): Promise<void> {
    this.#state = 'loading';
    try {
      const scenario = this.#inProcess.scenario ?? (await loadScenario(job.scenarioFile));
      this.#recorder = new IntervalRecorder();
      const sink = new MetricSink(this.#recorder, subMetricsOf(job.subMetricKeys));
      this.#runner = new Runner(scenario, job.plans, {
        clock: this.#clock,
        sink,
        guard: new TargetGuard(job.allowRemote),
        reuseConnections: job.reuseConnections,
        timeoutMs: job.timeoutMs,
        tls: new TlsProfile(job.tls),
        setupData: decodeSetupData(job.setupData),
        vuIdBase: job.vuIdBase,
        ...(this.#inProcess.vuPool === undefined ? {} : { vuPool: this.#inProcess.vuPool }),
      });
      this.#state = 'ready';
      this.#send({ type: 'ready' });
      if (this.#stopRequested) this.#end(undefined);
    } catch (error) {
      this.#send({ type: 'failed', code: isLoadError(error) ? error.code : 'KEEL_LOAD_WORKER_LOST', message: (error as Error).message });
      this.#state = 'done';
      this.#finish();
    }
  }

  async #run(atEpochMs: number): Promise<void> {
    const runner = this.#runner!;
    const recorder = this.#recorder!;
    this.#state = 'running';
    const startMs = this.#clock.nowMs() + Math.max(0, atEpochMs - Date.now());
    const ticker = setInterval(() => this.#send({ type: 'snapshot', snapshot: recorder.snapshot() }), SNAPSHOT_INTERVAL_MS);
    try {
      await runner.run(startMs);
    } catch (error) {
      recorder.error(`runner ${(error as Error).message.slice(0, 80)}`);
    } finally {
      clearInterval(ticker);
    }
    this.#end(recorder);
  }

  #end(recorder: IntervalRecorder | undefined): void {
    if (this.#state === 'done') return;
    this.#state = 'done';
    const snapshot = recorder?.snapshot() ?? { trends: {}, counters: {}, rates: {}, gauges: {}, checks: {}, errors: {} };
    recorder?.destroy();
    this.#send({ type: 'done', snapshot });
    this.#finish();
  }
}
