/**
 * Clock reads per proxied request on the fast path: performance.now() (the
 * gateway's injected clock) and Date.now(), counted by wrapping both while
 * one raw keep-alive client sends 2,000 requests one at a time through a
 * gateway with the bench's protections-on config (rate limit, admission,
 * outlier detection, retries) to one node backend, all in this process (so
 * the backend's reads count too, the same for any build). A count, not a
 * time: it does not move with the load on the box.
 *
 * Usage: npx tsx bench/gateway-clock-reads.ts [DIR] (DIR: a build's root holding dist/; default this checkout, after npm run build)
 */
import { connect } from 'node:net';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

const root = process.argv[2] ?? new URL('..', import.meta.url).pathname;
const { Gateway, parseGatewayConfig } = await import(`${root}/dist/src/gateway/index.js`);
const { seededRandom } = await import(`${root}/dist/src/resilience/index.js`);
const backend = http.createServer((q, r) => r.end('ok'));
await new Promise<void>((ok) => backend.listen(0, '127.0.0.1', ok));
const config = parseGatewayConfig({
  listeners: [{ port: 0 }], admin: { port: 0 },
  routes: [{ name: 'all', match: { prefix: '/' }, cluster: 'app', retry: { maxAttempts: 2 } }],
  clusters: { app: { balancer: 'least-request', endpoints: [{ address: `127.0.0.1:${(backend.address() as AddressInfo).port}` }], circuitBreakers: { maxConnections: 64 },
    outlierDetection: { consecutive5xx: 5 }, adaptiveConcurrency: { initialLimit: 200, minLimit: 64, maxLimit: 2000 } } },
  rateLimits: [{ name: 'per-ip', descriptor: { clientIp: true }, algorithm: 'gcra', limit: 10000000, windowMs: 1000, burst: 100000 }],
});
const gateway = await Gateway.start({ config, random: seededRandom(1) });
const socket = connect(gateway.ports[0], '127.0.0.1');
await new Promise<void>((ok) => socket.once('connect', ok));
let pending: () => void = () => {};
let buffered = '';
socket.on('data', (chunk: Buffer) => {
  buffered += chunk.toString('latin1');
  if (!buffered.endsWith('\r\n\r\nok')) return;
  buffered = '';
  pending();
});
const one = () => new Promise<void>((ok) => { pending = ok; socket.write('GET / HTTP/1.1\r\nHost: a\r\n\r\n'); });
for (let index = 0; index < 200; index++) await one();
const original = performance.now.bind(performance);
let reads = 0;
performance.now = () => {
  reads++;
  return original();
};
const dateNow = Date.now;
let dateReads = 0;
Date.now = () => {
  dateReads++;
  return dateNow();
};
const N = 2_000;
for (let index = 0; index < N; index++) await one();
performance.now = original; Date.now = dateNow;
console.log(`${root}: performance.now ${(reads / N).toFixed(2)} per request, Date.now ${(dateReads / N).toFixed(2)} per request (gateway and backend, one process)`);
socket.destroy();
await gateway.close();
backend.close();
