/**
 * `keel probe serve`'s HTTP endpoint: /metrics (Prometheus text), /results
 * (the last result of every check, as JSON), /livez and /readyz (ready once
 * every check has run at least once, so a scrape never reads a half-empty
 * set of series as "all good").
 */
import { createServer, type Server } from 'node:http';
import type { Check } from './config.js';
import { ProbeMetrics } from './metrics.js';
import type { CheckResult } from './result.js';
import { ProbeScheduler } from './scheduler.js';

export interface ProbeServerOptions {
  readonly host: string;
  readonly port: number;
  readonly intervalMs: number;
  readonly concurrency: number;
  /** Called after every check run (the CLI logs failures). */
  readonly onResult?: (result: CheckResult) => void;
}

export class ProbeServer {
  readonly #metrics: ProbeMetrics;
  readonly #scheduler: ProbeScheduler;
  readonly #last = new Map<string, CheckResult>();
  readonly #checks: readonly Check[];
  readonly #server: Server;

  private constructor(checks: readonly Check[], options: ProbeServerOptions) {
    this.#checks = checks;
    this.#metrics = new ProbeMetrics(checks);
    this.#scheduler = new ProbeScheduler(checks, {
      intervalMs: options.intervalMs,
      concurrency: options.concurrency,
      onResult: (result) => {
        this.#last.set(result.name, result);
        this.#metrics.record(result);
        options.onResult?.(result);
      },
      onSkipped: (check, count) => this.#metrics.recordSkipped(check, count),
    });
    this.#server = createServer((request, response) => {
      void this.#handle(request.method ?? 'GET', new URL(request.url ?? '/', 'http://probe').pathname, response);
    });
  }

  /** Binds the listener first (a taken port fails before any check runs), then starts the schedule. */
  static async start(checks: readonly Check[], options: ProbeServerOptions): Promise<ProbeServer> {
    const server = new ProbeServer(checks, options);
    await new Promise<void>((resolve, reject) => {
      server.#server.once('error', reject);
      server.#server.listen(options.port, options.host, () => {
        server.#server.off('error', reject);
        resolve();
      });
    });
    server.#scheduler.start();
    return server;
  }

  /** The bound port (useful with port 0 in tests). */
  get port(): number {
    const address = this.#server.address();
    return address !== null && typeof address === 'object' ? address.port : 0;
  }

  async close(): Promise<void> {
    await this.#scheduler.stop();
    await new Promise<void>((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
  }

  async #handle(method: string, path: string, response: import('node:http').ServerResponse): Promise<void> {
    const send = (status: number, type: string, body: string): void => {
      response.writeHead(status, { 'content-type': type }).end(method === 'HEAD' ? undefined : body);
    };
    if (method !== 'GET' && method !== 'HEAD') return send(405, 'text/plain', 'method not allowed\n');
    switch (path) {
      case '/metrics':
        try {
          return send(200, this.#metrics.registry.contentType, await this.#metrics.registry.metrics());
        } catch (error) {
          return send(500, 'text/plain', `metrics: ${(error as Error).message}\n`);
        }
      case '/results':
        return send(200, 'application/json', JSON.stringify({ checks: this.#checks.map((check) => this.#last.get(check.name) ?? { name: check.name, kind: check.kind, pending: true }) }));
      case '/livez':
        return send(200, 'text/plain', 'ok\n');
      case '/readyz': {
        const ready = this.#last.size === this.#checks.length;
        return send(ready ? 200 : 503, 'text/plain', ready ? 'ok\n' : `${this.#checks.length - this.#last.size} checks have not run yet\n`);
      }
      default:
        return send(404, 'text/plain', 'not found: try /metrics, /results, /livez, /readyz\n');
    }
  }
}
