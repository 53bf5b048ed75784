import cluster, { type Worker } from 'node:cluster';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { AggregatorRegistry, Counter, Gauge, Registry } from 'prom-client';
import { errorFields } from '../../node/logger.js';
import { type Backoff, exponentialBackoff, systemClock, systemRandom } from '../../resilience/index.js';
import { type AdminSubject, createAdminServer } from '../admin.js';
import { type AdminAccess, resolveAdminAccess } from '../admin-auth.js';
import { type GatewayConfig, readGatewayConfig } from '../config.js';
import {
  WORKER_CALLS_PENDING_MAX, WORKER_RELOAD_TIMEOUT_MS, WORKER_RESTART_DELAY_MS_MAX, WORKER_RESTART_DELAY_MS_MIN, WORKER_STABLE_AFTER_MS, WORKER_STATUS_TIMEOUT_MS,
  WORKER_STOP_GRACE_MS, WORKERS_MAX,
} from '../limits.js';
import { LeaseLedger } from './lease-ledger.js';
import { isToPrimary, type ToPrimary, type WorkerAnswer, type WorkerCall } from './messages.js';
import { WORKER_SLOT_ENV, WORKERS_ENV } from './worker.js';

export interface SupervisorOptions {
  /** Where a reload (SIGHUP, `POST /reload`) reads the config. */
  readonly configFile: string;
  /** The config's text as read at start, sent to every worker, and the config it validated to. */
  readonly configText: string;
  readonly config: GatewayConfig;
  readonly workers: number;
  readonly log: Logger;
  /** Worker exit codes a restart cannot fix (a port another process holds): the primary stops every worker and exits with it. */
  readonly permanentExitCodes: readonly number[];
}

/** A worker could not start, or exited with a code a restart cannot fix: the primary exits with `exitCode`. */
export class WorkerFailedError extends Error {
  constructor(readonly slot: number, readonly exitCode: number) {
    super(`worker ${slot} exited with code ${exitCode}`);
    this.name = 'WorkerFailedError';
  }
}

/** One worker position: its process comes and goes, the slot stays. */
interface Slot {
  readonly index: number;
  worker: Worker | undefined;
  ready: boolean;
  ports: readonly number[];
  restarts: number;
  startedMs: number;
  backoff: Backoff;
  timer: ReturnType<typeof setTimeout> | undefined;
}

const restartBackoff = exponentialBackoff({ initialDelayMs: WORKER_RESTART_DELAY_MS_MIN, maxDelayMs: WORKER_RESTART_DELAY_MS_MAX, jitter: 'none' });

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}

/**
 * The primary of `keel gateway --workers N` (nginx's master process): forks
 * N workers that accept on the same listeners (node:cluster shares each
 * listening socket), restarts one that dies (exponential backoff, reset once
 * it has run WORKER_STABLE_AFTER_MS), sends every worker the same validated
 * config on reload, drains them all on stop. It owns the state that must be
 * global (the rate limiters, leased to the workers: LeaseLedger) and the one
 * admin port, whose view and /metrics aggregate the workers'.
 */
export class GatewaySupervisor implements AdminSubject {
  readonly metrics: AdminSubject['metrics'];
  readonly #options: SupervisorOptions;
  readonly #log: Logger;
  readonly #ledger = new LeaseLedger(systemClock);
  readonly #slots: Slot[];
  readonly #registry = new Registry();
  readonly #running = new Gauge({ name: 'keel_gateway_workers', help: 'Gateway worker processes running and ready', registers: [this.#registry] });
  readonly #restarts = new Counter({ name: 'keel_gateway_worker_restarts_total', help: 'Gateway workers restarted after they died', registers: [this.#registry] });
  readonly #calls = new Map<number, (answer: WorkerAnswer) => void>();
  #nextCallId = 1;
  #config: GatewayConfig;
  #configText: string;
  #access: AdminAccess;
  #admin: Server | undefined;
  #reloading: Promise<unknown> = Promise.resolve();
  #stopping = false;
  #started = false;
  /** Settles the start (all ready, or a worker failed first). */
  #onStart: { resolve: () => void; reject: (error: Error) => void } | undefined;
  /** Resolves with the exit code once every worker has exited after a stop, or a worker failed for good. */
  readonly finished: Promise<number>;
  #finish!: (code: number) => void;
  #exitCode = 0;

  private constructor(options: SupervisorOptions) {
    if (!(Number.isInteger(options.workers) && options.workers >= 1 && options.workers <= WORKERS_MAX)) throw new RangeError(`workers must be 1..${WORKERS_MAX}`);
    this.#options = options;
    this.#log = options.log;
    this.#configText = options.configText;
    this.#config = options.config;
    this.#access = resolveAdminAccess(this.#config.admin);
    this.#slots = Array.from({ length: options.workers }, (_, index) => ({
      index, worker: undefined, ready: false, ports: [], restarts: 0, startedMs: 0, backoff: restartBackoff.start(systemRandom), timer: undefined,
    }));
    this.finished = new Promise<number>((resolve) => (this.#finish = resolve));
    this.metrics = { registry: { contentType: this.#registry.contentType, metrics: () => this.#aggregateMetrics() } };
  }

  /** Forks every worker and waits for all to listen, then binds the admin port; rejects with WorkerFailedError if a worker exits first. */
  static async start(options: SupervisorOptions): Promise<GatewaySupervisor> {
    const supervisor = new GatewaySupervisor(options);
    await supervisor.#start();
    return supervisor;
  }

  async #start(): Promise<void> {
    const allReady = new Promise<void>((resolve, reject) => (this.#onStart = { resolve, reject }));
    for (const slot of this.#slots) this.#fork(slot);
    try {
      await allReady;
      if (this.#config.admin) await this.#bindAdmin(this.#config.admin);
    } catch (error) {
      await this.stop();
      throw error;
    }
    this.#started = true;
  }

  /** The listeners' ports (as the first ready worker bound them). */
  get ports(): readonly number[] {
    return this.#slots.find((slot) => slot.ready)?.ports ?? [];
  }

  get adminPort(): number | undefined {
    return this.#admin ? (this.#admin.address() as AddressInfo).port : undefined;
  }

  /** The pids of the workers running now, by slot (undefined while one restarts). */
  get pids(): Array<number | undefined> {
    return this.#slots.map((slot) => slot.worker?.process.pid);
  }

  /** Ready while not draining and at least one worker listens (the others may be restarting). */
  get ready(): boolean {
    return this.#started && !this.#stopping && this.#slots.some((slot) => slot.ready);
  }

  get draining(): boolean {
    return this.#stopping;
  }

  /** The admin view: every worker's own view (clusters, ejections, limits are per worker), with its pid, restarts and requests served. */
  async describe(): Promise<Record<string, unknown>> {
    const workers = await Promise.all(this.#slots.map(async (slot) => {
      const head = { slot: slot.index, pid: slot.worker?.process.pid ?? null, ready: slot.ready, restarts: slot.restarts };
      const answer = await this.#call(slot, { keel: 'describe', id: 0 }, WORKER_STATUS_TIMEOUT_MS);
      return answer.ok ? { ...head, ...(answer.body as Record<string, unknown>) } : { ...head, error: answer.error };
    }));
    return { draining: this.#stopping, workers, sharedRateLimitRules: this.#ledger.rules };
  }

  /**
   * Reads and validates the file once, then has every worker reload to that
   * same text (each one swaps its routing table atomically). A file that does
   * not validate changes nothing anywhere. Reloads run one at a time.
   */
  reloadFromFile(): Promise<{ ok: true } | { ok: false; error: string }> {
    const run = this.#reloading.then(() => this.#reload());
    this.#reloading = run;
    return run;
  }

  async #reload(): Promise<{ ok: true } | { ok: false; error: string }> {
    let text: string;
    let config: GatewayConfig;
    let access: AdminAccess;
    try {
      ({ text, config } = readGatewayConfig(this.#options.configFile));
      access = resolveAdminAccess(config.admin);
    } catch (error) {
      this.#log.error(errorFields(error), 'config reload failed; keeping the running config');
      return { ok: false, error: (error as Error).message };
    }
    const live = this.#slots.filter((slot) => slot.ready);
    const answers = await Promise.all(live.map((slot) => this.#call(slot, { keel: 'reload', id: 0, text }, WORKER_RELOAD_TIMEOUT_MS)));
    const failures = answers.flatMap((answer, index) => (answer.ok ? [] : [`worker ${live[index]!.index}: ${answer.error ?? 'failed'}`]));
    // Restarted workers start from what the others run: the new text once any worker took it.
    if (failures.length < live.length || live.length === 0) {
      this.#configText = text;
      this.#config = config;
      this.#access = access;
    }
    if (failures.length > 0) {
      this.#log.error({ failures }, 'config reload failed on some workers');
      return { ok: false, error: failures.join('; ') };
    }
    this.#log.info({ workers: live.length }, 'config reloaded on every worker');
    return { ok: true };
  }

  /** SIGTERM to every worker (each drains, bounded by drainTimeoutMs; SIGKILL after WORKER_STOP_GRACE_MS more), then closes the admin port. */
  async stop(): Promise<void> {
    this.#stopping = true;
    const exits: Array<Promise<unknown>> = [];
    for (const slot of this.#slots) {
      clearTimeout(slot.timer);
      const worker = slot.worker;
      if (worker === undefined) continue;
      exits.push(new Promise<void>((resolve) => {
        if (worker.process.exitCode !== null || worker.process.signalCode !== null) return resolve();
        const kill = setTimeout(() => worker.process.kill('SIGKILL'), this.#config.limits.drainTimeoutMs + WORKER_STOP_GRACE_MS);
        worker.process.once('exit', () => {
          clearTimeout(kill);
          resolve();
        });
        worker.process.kill('SIGTERM');
      }));
    }
    await Promise.all(exits);
    if (this.#admin) {
      this.#admin.close();
      this.#admin.closeAllConnections();
    }
    this.#finish(this.#exitCode);
  }

  #fork(slot: Slot): void {
    const worker = cluster.fork({ [WORKER_SLOT_ENV]: String(slot.index), [WORKERS_ENV]: String(this.#slots.length) });
    slot.worker = worker;
    slot.ready = false;
    slot.startedMs = systemClock.now();
    worker.on('message', (message: unknown) => {
      if (isToPrimary(message)) this.#receive(slot, worker, message);
    });
    worker.on('exit', (code: number | null, signal: string | null) => this.#exited(slot, worker, code, signal));
  }

  #receive(slot: Slot, worker: Worker, message: ToPrimary): void {
    switch (message.keel) {
      case 'hello': return this.#sendTo(worker, { keel: 'config', text: this.#configText });
      case 'lease': return this.#sendTo(worker, this.#ledger.grant(message));
      case 'return': return this.#ledger.giveBack(message);
      case 'answer': return this.#calls.get(message.id)?.(message);
      case 'ready': {
        slot.ready = true;
        slot.ports = message.ports;
        this.#running.set(this.#slots.filter((each) => each.ready).length);
        this.#log.info({ worker: slot.index, pid: worker.process.pid, ports: message.ports }, slot.restarts > 0 ? 'worker restarted' : 'worker ready');
        if (this.#slots.every((each) => each.ready)) this.#onStart?.resolve();
      }
    }
  }

  #exited(slot: Slot, worker: Worker, code: number | null, signal: string | null): void {
    if (slot.worker !== worker) return;
    slot.worker = undefined;
    slot.ready = false;
    this.#running.set(this.#slots.filter((each) => each.ready).length);
    if (this.#stopping) return;
    const exitCode = code ?? 1;
    if (!this.#started || this.#options.permanentExitCodes.includes(exitCode)) {
      // Never half-start, and never restart into a failure a restart cannot fix: stop every worker and exit with its code.
      this.#log.error({ worker: slot.index, pid: worker.process.pid, code, signal }, this.#started ? 'worker failed for good; stopping every worker' : 'worker could not start; stopping every worker');
      this.#exitCode = exitCode === 0 ? 1 : exitCode;
      this.#onStart?.reject(new WorkerFailedError(slot.index, this.#exitCode));
      if (this.#started) void this.stop();
      return;
    }
    if (systemClock.now() - slot.startedMs > WORKER_STABLE_AFTER_MS) slot.backoff = restartBackoff.start(systemRandom);
    const delayMs = slot.backoff.delayMs;
    slot.backoff = slot.backoff.next();
    this.#log.warn({ worker: slot.index, pid: worker.process.pid, code, signal, delayMs }, 'worker exited; restarting it');
    slot.timer = setTimeout(() => {
      slot.timer = undefined;
      if (this.#stopping) return;
      slot.restarts++;
      this.#restarts.inc();
      this.#fork(slot);
    }, delayMs);
  }

  #sendTo(worker: Worker, message: unknown): void {
    // A worker that just died may still be listed: its channel is closed and the message is moot.
    if (worker.isConnected()) worker.send(message as object, undefined, () => {});
  }

  /** One call to a slot's worker; answers `ok: false` if the worker is down, does not answer in `timeoutMs`, or too many calls are pending. */
  #call(slot: Slot, call: WorkerCall, timeoutMs: number): Promise<WorkerAnswer> {
    const worker = slot.worker;
    const id = this.#nextCallId++;
    if (worker === undefined || !worker.isConnected()) return Promise.resolve({ keel: 'answer', id, ok: false, error: 'not running' });
    if (this.#calls.size >= WORKER_CALLS_PENDING_MAX) return Promise.resolve({ keel: 'answer', id, ok: false, error: 'too many calls pending' });
    return new Promise<WorkerAnswer>((resolve) => {
      const timer = setTimeout(() => this.#calls.get(id)?.({ keel: 'answer', id, ok: false, error: `no answer in ${timeoutMs} ms` }), timeoutMs);
      this.#calls.set(id, (answer) => {
        clearTimeout(timer);
        this.#calls.delete(id);
        resolve(answer);
      });
      this.#sendTo(worker, { ...call, id });
    });
  }

  /** One exposition for Prometheus: every worker's metrics summed by name and labels (prom-client's cluster aggregation), and the primary's own. */
  async #aggregateMetrics(): Promise<string> {
    const answers = await Promise.all(this.#slots.map((slot) => this.#call(slot, { keel: 'metrics', id: 0 }, WORKER_STATUS_TIMEOUT_MS)));
    const perWorker = answers.flatMap((answer) => (answer.ok ? [answer.body as object] : []));
    return AggregatorRegistry.aggregate([...perWorker, await this.#registry.getMetricsAsJSON()]).metrics();
  }

  async #bindAdmin(admin: NonNullable<GatewayConfig['admin']>): Promise<void> {
    const server = createAdminServer(this, () => this.#access);
    if (this.#access.tokenDigest === undefined && !isLoopback(admin.host)) {
      this.#log.warn({ host: admin.host }, 'the admin port listens beyond loopback without a token: anyone who reaches it can reload the config');
    }
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(admin.port, admin.host, () => resolve());
    });
    this.#admin = server;
  }
}
