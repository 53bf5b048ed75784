import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Counter, Histogram, Registry } from 'prom-client';
import { Agent } from 'undici';
import { GatewayMetrics } from '../../src/gateway/metrics.js';
import { call, closeAll, simpleConfig, startBackend, startGateway } from './helpers.js';

/** What prom-client printed when the gateway called it on every request (the metrics' definitions as in metrics.ts). */
function directMetrics(): { registry: Registry; requests: Counter<'route' | 'cluster' | 'code_class'>; duration: Histogram<'route' | 'cluster'> } {
  const plain = new GatewayMetrics();
  const registry = new Registry();
  const requests = new Counter({ name: 'keel_gateway_requests_total', help: (plain.requests as unknown as { help: string }).help, labelNames: ['route', 'cluster', 'code_class'] as const, registers: [registry] });
  const duration = new Histogram({
    name: 'keel_gateway_request_duration_seconds', help: (plain.duration as unknown as { help: string }).help, labelNames: ['route', 'cluster'] as const,
    buckets: (plain.duration as unknown as { upperBounds: number[] }).upperBounds, registers: [registry],
  });
  return { registry, requests, duration };
}

/**
 * The exposition's lines sorted, so the order series were first seen in does not count, with `_sum` values rounded
 * to 9 digits: a tally adds a scrape interval's durations before the histogram's sum, which rounds differently.
 */
async function lines(registry: Registry, name: string): Promise<string[]> {
  const text = await registry.getSingleMetricAsString(name);
  return text.split('\n').map((line) => (line.includes('_sum{') ? line.replace(/ ([\d.e+-]+)$/, (_, value: string) => ` ${Number(value).toFixed(9)}`) : line)).sort();
}

test('tallied requests and durations scrape as the same series, counts and sums as calling prom-client on each request', async () => {
  const metrics = new GatewayMetrics();
  const direct = directMetrics();
  const statuses = [200, 204, 301, 404, 429, 500, 503, 101, 200, 200];
  const seconds = [0, 0.0005, 0.001, 0.0010001, 0.003, 0.2, 0.5, 1, 9.99, 10, 10.5, 42];
  let step = 0;
  // Two scrapes in between: the handover adds to what an earlier one handed over.
  for (const scrapeAfter of [7, 23, 40]) {
    for (; step < scrapeAfter; step++) {
      const route = step % 3 === 0 ? 'none' : `route-${step % 2}`;
      const cluster = step % 5 === 0 ? 'none' : 'app';
      const status = statuses[step % statuses.length]!;
      const value = seconds[step % seconds.length]!;
      metrics.countRequest(route, cluster, status);
      direct.requests.inc({ route, cluster, code_class: `${Math.floor(status / 100)}xx` });
      metrics.observeDuration(route, cluster, value);
      direct.duration.observe({ route, cluster }, value);
    }
    for (const name of ['keel_gateway_requests_total', 'keel_gateway_request_duration_seconds']) {
      assert.deepEqual(await lines(metrics.registry, name), await lines(direct.registry, name), `${name} after ${step} requests`);
    }
  }
  assert.deepEqual(await metrics.registry.getMetricsAsJSON().then((all) => all.filter((metric) => metric.name.startsWith('keel_gateway_request')).length), 2);
});

test('a status outside 1xx-5xx and a direct observe still count', async () => {
  const metrics = new GatewayMetrics();
  metrics.countRequest('r', 'c', 0);
  metrics.countRequest('r', 'c', 200);
  metrics.duration.observe({ route: 'r', cluster: 'c' }, 0.002);
  metrics.observeDuration('r', 'c', 0.002);
  const requests = await metrics.registry.getSingleMetricAsString('keel_gateway_requests_total');
  assert.match(requests, /\{route="r",cluster="c",code_class="0xx"\} 1/);
  assert.match(requests, /\{route="r",cluster="c",code_class="2xx"\} 1/);
  assert.match(await metrics.registry.getSingleMetricAsString('keel_gateway_request_duration_seconds'), /_count\{route="r",cluster="c"\} 2/);
  assert.throws(() => metrics.observeDuration('r', 'c', Number.NaN), TypeError);
});

test('the admin /metrics after N proxied requests counts N, in its status class, and N durations', async (t) => {
  const backend = await startBackend('a');
  const gateway = await startGateway(simpleConfig([backend.address], {}, { match: { prefix: '/' } }));
  const agent = new Agent();
  t.after(() => closeAll(agent, gateway, backend));
  const requestCount = 25;
  for (let index = 0; index < requestCount; index++) assert.equal((await call(agent, gateway.ports[0]!, `/item/${index}`)).status, 200);
  const first = (await call(agent, gateway.adminPort!, '/metrics')).body;
  assert.match(first, new RegExp(`keel_gateway_requests_total\\{route="[^"]+",cluster="app",code_class="2xx"\\} ${requestCount}\\n`));
  assert.match(first, new RegExp(`keel_gateway_request_duration_seconds_count\\{route="[^"]+",cluster="app"\\} ${requestCount}\\n`));
  assert.match(first, new RegExp(`keel_gateway_request_duration_seconds_bucket\\{le="\\+Inf",route="[^"]+",cluster="app"\\} ${requestCount}\\n`));
  assert.equal((await call(agent, gateway.ports[0]!, '/more')).status, 200);
  const second = (await call(agent, gateway.adminPort!, '/metrics')).body;
  assert.match(second, new RegExp(`keel_gateway_requests_total\\{route="[^"]+",cluster="app",code_class="2xx"\\} ${requestCount + 1}\\n`), 'a second scrape adds to the first');
});
