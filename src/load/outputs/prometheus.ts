/**
 * `--metrics-port`: live metrics for Prometheus while the run goes, on
 * 127.0.0.1 unless a host is given. Names follow keel's convention
 * (keel_load_<thing>_<unit>, _total on counters).
 */
import { createServer, type Server } from 'node:http';
import { Gauge, Registry } from 'prom-client';
import type { MetricTotals } from '../metrics.js';
import { percentileMs } from '../histogram.js';

export class PrometheusOutput {
  readonly #registry = new Registry();
  readonly #server: Server;
  readonly #requests = new Gauge({ name: 'keel_load_http_requests_total', help: 'HTTP requests sent so far', registers: [this.#registry] });
  readonly #failed = new Gauge({ name: 'keel_load_http_requests_failed_total', help: 'HTTP requests that failed (no response or status >= 400)', registers: [this.#registry] });
  readonly #iterations = new Gauge({ name: 'keel_load_iterations_total', help: 'Iterations completed', registers: [this.#registry] });
  readonly #dropped = new Gauge({ name: 'keel_load_dropped_iterations_total', help: 'Arrivals that found no free VU (open model)', registers: [this.#registry] });
  readonly #vus = new Gauge({ name: 'keel_load_vus', help: 'Active virtual users', registers: [this.#registry] });
  readonly #latency = new Gauge({ name: 'keel_load_http_request_duration_seconds', help: 'HTTP request latency over the whole run so far, by quantile', labelNames: ['quantile'], registers: [this.#registry] });
  readonly #checks = new Gauge({ name: 'keel_load_checks_failed_total', help: 'Checks that failed', registers: [this.#registry] });

  constructor(port: number, host = '127.0.0.1') {
    this.#server = createServer((request, response) => {
      if (request.url !== '/metrics') {
        response.writeHead(404).end();
        return;
      }
      void this.#registry.metrics().then((text) => response.writeHead(200, { 'content-type': this.#registry.contentType }).end(text));
    });
    this.#server.listen(port, host);
  }

  listening(): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.#server.listening) return resolve();
      this.#server.once('listening', resolve).once('error', reject);
    });
  }

  update(totals: MetricTotals): void {
    this.#requests.set(totals.counter('http_reqs'));
    this.#failed.set(totals.rates.get('http_req_failed')?.[0] ?? 0);
    this.#iterations.set(totals.counter('iterations'));
    this.#dropped.set(totals.counter('dropped_iterations'));
    this.#vus.set(totals.gauges.get('vus') ?? 0);
    const checks = totals.rates.get('checks');
    this.#checks.set(checks === undefined ? 0 : checks[1] - checks[0]);
    const histogram = totals.trends.get('http_req_duration');
    if (histogram !== undefined) for (const quantile of [0.5, 0.9, 0.99]) this.#latency.set({ quantile: String(quantile) }, percentileMs(histogram, quantile * 100) / 1000);
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.#server.closeAllConnections();
      this.#server.close(() => resolve());
    });
  }
}
