import type { Server } from 'node:http';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { alertmanagerConfig, type AlertTiming } from './alertmanager-config.js';
import { RECEIVER_PATH, startAlertReceiver } from './alert-receiver.js';
import type { ObserveBinaries } from './binaries.js';
import { ObserveStackError } from './errors.js';
import { PROMETHEUS_RETENTION_SIZE, PROMETHEUS_RETENTION_TIME, READY_POLL_MS, READY_TIMEOUT_MS } from './limits.js';
import type { PromDuration, ScrapeTarget } from './options.js';
import { prometheusConfig, type MemberTarget } from './prometheus-config.js';
import { logTail, SupervisedProcess, type ProcessState } from './supervised-process.js';

/** A rule file to load: its name under `<dir>/rules/` and its text. */
export interface RuleFile {
  readonly name: string;
  readonly text: string;
}

export interface ObserveStackOptions {
  /** Where the stack keeps its configs, storage, logs and alerts.jsonl (keel up: `<data-dir>/observe`). */
  readonly dir: string;
  readonly binaries: ObserveBinaries;
  /** Every port on 127.0.0.1. */
  readonly prometheusPort: number;
  readonly alertmanagerPort: number;
  /** The built-in receiver's port; used only without `webhookUrl`. */
  readonly receiverPort: number;
  /** Where Alertmanager sends notifications; without it, the built-in receiver. */
  readonly webhookUrl?: string;
  readonly members: readonly MemberTarget[];
  readonly gatewayAdmin?: string;
  readonly extraTargets: readonly ScrapeTarget[];
  readonly scrapeInterval: PromDuration;
  readonly evaluationInterval: PromDuration;
  readonly timing: AlertTiming;
  readonly ruleFiles: readonly RuleFile[];
  readonly log: (line: string) => void;
  /** Called when a process starts or exits (keel up rewrites cluster.json). */
  readonly onChange?: () => void;
}

/** What cluster.json records about the stack. */
export interface ObserveStackDescription {
  readonly prometheusUrl: string;
  readonly alertmanagerUrl: string;
  /** Where Alertmanager posts notifications. */
  readonly webhookUrl: string;
  /** The built-in receiver's file, when it is the receiver. */
  readonly alertsFile?: string;
  readonly ruleFiles: readonly string[];
  readonly prometheus: ProcessState;
  readonly alertmanager: ProcessState;
}

const LOOPBACK = '127.0.0.1';

/**
 * Prometheus scraping a keel cluster and evaluating keel's alerts and SLO
 * rules, Alertmanager routing them to a webhook, and (without a webhook)
 * the built-in receiver that records them. `start()` resolves once both
 * answer /-/ready; `stop()` stops everything it started.
 */
export class ObserveStack {
  readonly #options: ObserveStackOptions;
  readonly #prometheus: SupervisedProcess;
  readonly #alertmanager: SupervisedProcess;
  readonly #ruleFiles: string[];
  readonly #webhookUrl: string;
  readonly #alertsFile: string | undefined;
  #receiver: Server | undefined;

  private constructor(options: ObserveStackOptions) {
    this.#options = options;
    const { dir, binaries, log } = options;
    const onChange = options.onChange ?? (() => undefined);
    this.#alertsFile = options.webhookUrl ? undefined : join(dir, 'alerts.jsonl');
    this.#webhookUrl = options.webhookUrl ?? `http://${LOOPBACK}:${options.receiverPort}${RECEIVER_PATH}`;
    this.#ruleFiles = options.ruleFiles.map((file) => join(dir, 'rules', file.name));
    this.#prometheus = new SupervisedProcess('prometheus', binaries.prometheus, [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'prometheus-data')}`,
      `--storage.tsdb.retention.time=${PROMETHEUS_RETENTION_TIME}`,
      `--storage.tsdb.retention.size=${PROMETHEUS_RETENTION_SIZE}`,
      `--web.listen-address=${LOOPBACK}:${options.prometheusPort}`,
      // Links in alerts (generatorURL) then point at this address, not at the host's name.
      `--web.external-url=http://${LOOPBACK}:${options.prometheusPort}/`,
    ], join(dir, 'prometheus.log'), log, onChange);
    this.#alertmanager = new SupervisedProcess('alertmanager', binaries.alertmanager, [
      `--config.file=${join(dir, 'alertmanager.yml')}`,
      `--storage.path=${join(dir, 'alertmanager-data')}`,
      `--web.listen-address=${LOOPBACK}:${options.alertmanagerPort}`,
      `--web.external-url=http://${LOOPBACK}:${options.alertmanagerPort}/`,
      // One Alertmanager, no HA peers: an empty address turns its gossip listener (0.0.0.0:9094) off.
      '--cluster.listen-address=',
    ], join(dir, 'alertmanager.log'), log, onChange);
  }

  /** Writes the configs, starts the receiver, Alertmanager and Prometheus, and waits until both are ready. */
  static async start(options: ObserveStackOptions, signal?: AbortSignal): Promise<ObserveStack> {
    const stack = new ObserveStack(options);
    try {
      await stack.#start(signal);
    } catch (error) {
      await stack.stop();
      throw error;
    }
    return stack;
  }

  async #start(signal: AbortSignal | undefined): Promise<void> {
    const options = this.#options;
    const { dir } = options;
    mkdirSync(join(dir, 'rules'), { recursive: true });
    for (const [index, file] of options.ruleFiles.entries()) writeFileSync(this.#ruleFiles[index]!, file.text);
    writeFileSync(join(dir, 'prometheus.yml'), prometheusConfig({
      members: options.members,
      gatewayAdmin: options.gatewayAdmin,
      extraTargets: options.extraTargets,
      scrapeInterval: options.scrapeInterval,
      evaluationInterval: options.evaluationInterval,
      ruleFiles: this.#ruleFiles,
      alertmanager: `${LOOPBACK}:${options.alertmanagerPort}`,
    }));
    writeFileSync(join(dir, 'alertmanager.yml'), alertmanagerConfig(this.#webhookUrl, options.timing));
    if (this.#alertsFile) {
      this.#receiver = await startAlertReceiver({ host: LOOPBACK, port: options.receiverPort, file: this.#alertsFile, log: options.log });
    }
    this.#alertmanager.start();
    this.#prometheus.start();
    await Promise.all([
      waitReady(this.#alertmanager, `http://${LOOPBACK}:${options.alertmanagerPort}`, signal),
      waitReady(this.#prometheus, `http://${LOOPBACK}:${options.prometheusPort}`, signal),
    ]);
  }

  describe(): ObserveStackDescription {
    const options = this.#options;
    return {
      prometheusUrl: `http://${LOOPBACK}:${options.prometheusPort}`,
      alertmanagerUrl: `http://${LOOPBACK}:${options.alertmanagerPort}`,
      webhookUrl: this.#webhookUrl,
      ...(this.#alertsFile ? { alertsFile: this.#alertsFile } : {}),
      ruleFiles: this.#ruleFiles,
      prometheus: this.#prometheus.state(),
      alertmanager: this.#alertmanager.state(),
    };
  }

  /** Stops Prometheus first (its last alerts still reach Alertmanager), then Alertmanager, then the receiver. */
  async stop(): Promise<void> {
    await this.#prometheus.stop();
    await this.#alertmanager.stop();
    const receiver = this.#receiver;
    this.#receiver = undefined;
    if (receiver) await new Promise<void>((resolve) => receiver.close(() => resolve()));
  }
}

/** Polls `<url>/-/ready` until 200; throws when `signal` aborts, or with the log's tail if the process exits first or time runs out. */
async function waitReady(program: SupervisedProcess, url: string, signal: AbortSignal | undefined): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  const pid = program.pid;
  while (Date.now() < deadline) {
    if (signal?.aborted) throw new ObserveStackError('KEEL_OBSERVE_STACK_NOT_READY', `${program.name}: start cancelled`);
    // It died before it was ever ready (a bad config or rule file, a taken port): restarting will not fix that.
    if (!program.running || program.pid !== pid) break;
    try {
      const response = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(1_000) });
      await response.body?.cancel();
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, READY_POLL_MS));
  }
  const why = program.running && program.pid === pid ? `did not answer ${url}/-/ready within ${READY_TIMEOUT_MS / 1000} s` : 'exited before it was ready';
  throw new ObserveStackError('KEEL_OBSERVE_STACK_NOT_READY', `${program.name} ${why} (log ${program.logPath}):\n${logTail(program.logPath).trimEnd()}`);
}
