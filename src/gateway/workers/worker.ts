import type { Logger } from 'pino';
import { errorFields } from '../../node/logger.js';
import { systemClock } from '../../resilience/index.js';
import { type GatewayConfig, parseGatewayYaml } from '../config.js';
import type { Gateway } from '../gateway.js';
import { WORKER_RELOAD_TIMEOUT_MS } from '../limits.js';
import { LeaseClient } from './lease-client.js';
import { isToWorker, type ToPrimary, type ToWorker, type WorkerCall } from './messages.js';

/** The environment a worker is forked with: its slot (0..N-1, kept across restarts) and N. */
export const WORKER_SLOT_ENV = 'KEEL_GATEWAY_WORKER_SLOT';
export const WORKERS_ENV = 'KEEL_GATEWAY_WORKERS';

/** The channel to the primary (node:cluster's, i.e. `process` in a worker). */
export interface PrimaryChannel {
  send(message: ToPrimary): boolean;
  on(event: 'message', listener: (message: unknown) => void): unknown;
  on(event: 'disconnect', listener: () => void): unknown;
}

/** A worker runs the config without `admin`: the primary serves the one admin port. */
export function workerConfig(config: GatewayConfig): GatewayConfig {
  return { ...config, admin: undefined };
}

/**
 * A gateway worker's side of the IPC with the primary: it receives the
 * config the primary validated, takes rate-limit permits through its
 * LeaseClient, and answers the primary's calls (reload to a config text,
 * the admin view, metrics as JSON for the primary to aggregate).
 */
export class WorkerAgent {
  readonly slot: number;
  readonly leases: LeaseClient;
  readonly #channel: PrimaryChannel;
  readonly #log: Logger;
  #gateway: Gateway | undefined;
  #configWaiter: ((text: string) => void) | undefined;

  constructor(channel: PrimaryChannel, slot: number, workers: number, log: Logger) {
    this.#channel = channel;
    this.slot = slot;
    this.#log = log;
    this.leases = new LeaseClient({ send: (request) => this.#send(request), clock: systemClock, workers });
    channel.on('message', (message) => {
      if (isToWorker(message)) this.#receive(message);
    });
    channel.on('disconnect', () => this.leases.disconnect());
  }

  /** Asks the primary for the config text; rejects if none comes within WORKER_RELOAD_TIMEOUT_MS. */
  config(): Promise<string> {
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the primary sent no config')), WORKER_RELOAD_TIMEOUT_MS);
      this.#configWaiter = (text) => {
        clearTimeout(timer);
        resolve(text);
      };
      this.#send({ keel: 'hello' });
    });
  }

  /** The gateway is listening: answer the primary's calls about it, and tell the primary. */
  serve(gateway: Gateway): void {
    this.#gateway = gateway;
    this.#send({ keel: 'ready', ports: gateway.ports });
  }

  #send(message: ToPrimary): boolean {
    try {
      return this.#channel.send(message);
    } catch {
      // The channel closed (the primary is gone; node:cluster ends this worker).
      return false;
    }
  }

  #receive(message: ToWorker): void {
    switch (message.keel) {
      case 'grant': return this.leases.onGrant(message);
      case 'config': return this.#configWaiter?.(message.text);
      default: return void this.#answer(message);
    }
  }

  async #answer(call: WorkerCall): Promise<void> {
    const gateway = this.#gateway;
    if (gateway === undefined) return void this.#send({ keel: 'answer', id: call.id, ok: false, error: 'starting' });
    try {
      const body = await this.#perform(gateway, call);
      this.#send({ keel: 'answer', id: call.id, ok: true, body });
    } catch (error) {
      this.#send({ keel: 'answer', id: call.id, ok: false, error: (error as Error).message });
    }
  }

  async #perform(gateway: Gateway, call: WorkerCall): Promise<unknown> {
    switch (call.keel) {
      case 'reload': {
        try {
          await gateway.reload(workerConfig(parseGatewayYaml(call.text)));
        } catch (error) {
          this.#log.error(errorFields(error), 'config reload failed; keeping the running config');
          throw error;
        }
        return undefined;
      }
      case 'describe': {
        const requests = (await gateway.metrics.requests.get()).values.reduce((sum, value) => sum + value.value, 0);
        return { pid: process.pid, requests, ...gateway.describe() };
      }
      case 'metrics': return [...await gateway.metrics.registry.getMetricsAsJSON(), ...await this.leases.registry.getMetricsAsJSON()];
    }
  }
}
