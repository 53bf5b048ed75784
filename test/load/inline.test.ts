import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { createSecureServer } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { issueCertificate, makeAuthority } from '../../src/cli/local-pki.js';
import { kvKey, kvWorkload, runLoad, VuPool, type InlineScenario, type Options, type VU } from '../../src/load/index.js';

/** Two loopback servers that count the connections they accept and the requests each connection's peer port sent. */
const servers: Server[] = [];
const urls: string[] = [];
const connections = [0, 0];
const bodies: string[] = [];

const quiet = (): Writable => new Writable({ write: (_chunk, _encoding, done) => done() });

before(async () => {
  for (const index of [0, 1]) {
    const server = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk: Buffer) => (body += chunk.toString()));
      request.on('end', () => {
        if (bodies.length < 1_000) bodies.push(body);
        response.end('{}');
      });
    });
    server.on('connection', () => connections[index]!++);
    await new Promise<void>((resolve) => server.listen({ port: 0, host: '127.0.0.1' }, resolve));
    servers.push(server);
    urls.push(`http://127.0.0.1:${(server.address() as { port: number }).port}`);
  }
});

after(async () => {
  for (const server of servers) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

function sharedIterations(vus: number, iterations: number, fn: (vu: VU) => unknown): InlineScenario {
  return { options: { scenarios: { bench: { executor: 'shared-iterations', vus, iterations, maxDuration: '30s' } } }, functions: { default: fn } };
}

function withOptions(scenario: InlineScenario, options: Options): InlineScenario {
  return { ...scenario, options: { ...scenario.options, ...options } };
}

test('an inline scenario runs in this process; a VuPool keeps the VUs and their connections from one run to the next', async () => {
  connections.fill(0);
  const vuPool = new VuPool();
  const seen = new Set<VU>();
  const iteration = async (vu: VU): Promise<void> => {
    seen.add(vu);
    await vu.http.get(`${urls[0]}/`);
  };
  try {
    const warmup = await runLoad({ scenario: sharedIterations(4, 40, iteration), vuPool, output: quiet(), progress: false });
    assert.equal(warmup.exitCode, 0);
    assert.equal(warmup.summary.counters.iterations?.count, 40);
    const measured = await runLoad({ scenario: sharedIterations(4, 100, iteration), vuPool, output: quiet(), progress: false });
    assert.equal(measured.summary.counters.iterations?.count, 100);
    assert.equal(measured.summary.trends.iteration_duration?.count, 100);
    assert.equal(measured.summary.rates.http_req_failed?.trues, 0, JSON.stringify(measured.summary));
    // Four VUs in all, one keep-alive connection each, over both runs.
    assert.equal(seen.size, 4);
    assert.equal(vuPool.size, 4);
    assert.equal(connections[0], 4);
  } finally {
    await vuPool.close();
  }
  assert.equal(vuPool.size, 0);
});

test('an inline scenario cannot go to forked workers or agents, and needs no file', async () => {
  const scenario = sharedIterations(1, 1, () => undefined);
  await assert.rejects(runLoad({ scenario, workers: 2, output: quiet(), progress: false }), (error: { code: string }) => error.code === 'KEEL_LOAD_BAD_INPUT');
  await assert.rejects(runLoad({ scenario, scenarioFile: 'x.ts', workers: 0, output: quiet(), progress: false }), (error: { code: string }) => error.code === 'KEEL_LOAD_BAD_INPUT');
  const result = await runLoad({ scenario, output: quiet(), progress: false });
  assert.equal(result.summary.counters.iterations?.count, 1);
});

test('kvWorkload over a list of endpoints: VU n sends to endpoint (n - 1) mod count, keys named by kvKey', async () => {
  connections.fill(0);
  bodies.length = 0;
  const workload = kvWorkload({ endpoint: urls, mix: { put: 1, get: 0 }, keys: 3, valueBytes: 4, prefix: 'test/' });
  const result = await runLoad({ scenario: sharedIterations(4, 40, workload), output: quiet(), progress: false });
  assert.equal(result.summary.counters.http_reqs?.count, 40);
  assert.equal(result.summary.rates.checks?.falses, 0);
  assert.deepEqual(connections, [2, 2]);
  const keys = new Set(bodies.map((body) => Buffer.from((JSON.parse(body) as { key: string }).key, 'base64').toString()));
  assert.deepEqual([...keys].sort(), [0, 1, 2].map((index) => kvKey(index, 'test/')));
});

test('an inline scenario\'s TLS options (PEM text): https VUs present the client certificate a mutual-TLS server asks for, over HTTP/1.1 with h2 off', { timeout: 30_000 }, async () => {
  const authority = makeAuthority('keel load inline test CA', 1);
  const server = issueCertificate(authority, 'localhost', ['localhost', '127.0.0.1'], 1);
  const client = issueCertificate(authority, 'bench client', [], 1);
  const versions: string[] = [];
  const secure = createSecureServer({ cert: server.certPem, key: server.keyPem, ca: authority.certPem, requestCert: true, rejectUnauthorized: true, allowHTTP1: true }, (request, response) => {
    versions.push(request.httpVersion);
    response.end('ok');
  });
  await new Promise<void>((resolve) => secure.listen(0, '127.0.0.1', resolve));
  const url = `https://127.0.0.1:${(secure.address() as AddressInfo).port}/`;
  const get = (vu: VU) => vu.http.get(url);
  try {
    const withCertificate = await runLoad({ scenario: withOptions(sharedIterations(2, 6, get), { http2: false, tlsCa: authority.certPem, tlsAuth: [{ cert: client.certPem, key: client.keyPem }] }), output: quiet(), progress: false });
    assert.equal(withCertificate.summary.rates.http_req_failed?.trues, 0, JSON.stringify(withCertificate.summary.errors));
    assert.deepEqual(versions, Array(6).fill('1.1'));
    const without = await runLoad({ scenario: withOptions(sharedIterations(1, 1, get), { tlsCa: authority.certPem }), output: quiet(), progress: false });
    assert.equal(without.summary.rates.http_req_failed?.trues, 1);
  } finally {
    secure.close();
  }
});

test('a VU whose iteration was interrupted leaves the pool (its signal stays aborted); the others stay', { timeout: 30_000 }, async () => {
  const vuPool = new VuPool();
  const scenario: InlineScenario = {
    options: { scenarios: { bench: { executor: 'per-vu-iterations', vus: 2, iterations: 1, maxDuration: '200ms', gracefulStop: '0s' } } },
    functions: { default: (vu: VU) => (vu.id === 1 ? vu.sleep(60) : undefined) },
  };
  try {
    const result = await runLoad({ scenario, vuPool, output: quiet(), progress: false });
    assert.equal(result.summary.counters.interrupted_iterations?.count, 1);
    assert.equal(result.summary.counters.iterations?.count, 1);
    assert.equal(vuPool.size, 1);
  } finally {
    await vuPool.close();
  }
});
