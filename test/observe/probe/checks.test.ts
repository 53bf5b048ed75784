/**
 * Every kind of check against real servers on loopback: node:http servers
 * that answer well, answer 500, answer slowly or accept and never answer; a
 * TCP listener and a closed port; a grpc-js server implementing
 * grpc.health.v1 from the published .proto (keel's own members and gateway
 * do not serve the health service, so this is the protocol's reference
 * shape, not a stand-in for keel). Then the scheduler and /metrics.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { freeLoopbackPorts } from '../../../bench/lib/net.js';
import { parseChecks, ProbeServer, renderJunit, runChecks, type CheckResult } from '../../../src/observe/probe/index.js';
import { checkJunitStructure } from './junit-structure.js';

type Handler = (request: IncomingMessage, response: ServerResponse) => void;

async function listen<T extends Server | TcpServer>(server: T): Promise<{ server: T; port: number }> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return { server, port: (server.address() as { port: number }).port };
}

/** Servers and sockets to close at the end, whatever happened. */
class Resources {
  readonly #closers: (() => Promise<void> | void)[] = [];
  add(close: () => Promise<void> | void): void {
    this.#closers.push(close);
  }
  async closeAll(): Promise<void> {
    for (const close of this.#closers.reverse()) await close();
  }
}

async function httpServer(resources: Resources, handler: Handler): Promise<number> {
  const { server, port } = await listen(createServer(handler));
  resources.add(() => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return port;
}

/** Accepts connections and never writes a byte (nor closes them until the test ends). */
async function silentServer(resources: Resources): Promise<number> {
  const sockets = new Set<Socket>();
  const { server, port } = await listen(createTcpServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
  }));
  resources.add(() => {
    for (const socket of sockets) socket.destroy();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return port;
}

function byName(results: readonly CheckResult[]): Map<string, CheckResult> {
  return new Map(results.map((result) => [result.name, result]));
}

async function pollUntil<T>(what: string, read: () => Promise<T | undefined>, deadlineMs = 60_000): Promise<T> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    const value = await read();
    if (value !== undefined) return value;
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

test('HTTP, TCP and gRPC health checks against real servers, with JUnit output that parses', { timeout: 120_000 }, async () => {
  const resources = new Resources();
  try {
    const ok = await httpServer(resources, (request, response) => {
      if (request.url === '/v3/status') {
        response.writeHead(200, { 'content-type': 'application/json', 'x-keel-version': '0.1.0' });
        response.end(JSON.stringify({ header: { revision: '17', cluster_id: '99' }, leader: 'n1', members: [{ name: 'n1' }], note: 'a <tag> & "quotes"' }));
      } else response.end('ok\n');
    });
    const broken = await httpServer(resources, (_request, response) => {
      response.writeHead(500, { 'content-type': 'text/plain' });
      response.end('boom <&> \u0001 ]]>\n');
    });
    const slow = await httpServer(resources, (_request, response) => {
      setTimeout(() => response.end('late\n'), 400);
    });
    const silent = await silentServer(resources);
    const { server: tcp, port: tcpPort } = await listen(createTcpServer((socket) => socket.destroy()));
    resources.add(() => new Promise<void>((resolve) => tcp.close(() => resolve())));
    const [closedPort] = await freeLoopbackPorts(1);
    const grpcPort = await healthServer(resources, { '': 'SERVING', keel: 'SERVING', draining: 'NOT_SERVING' });

    const checks = parseChecks(
      `checks:
  - name: status-json
    labels: { team: storage }
    http:
      url: http://127.0.0.1:${ok}/v3/status
      headers: { accept: application/json }
      expect:
        status: [200, 204]
        headers: { content-type: { matches: "^application/json" }, x-keel-version: "0.1.0" }
        json:
          - { path: "$.header.revision", gt: 0, lt: 1000, equals: 17 }
          - { path: "$.members[0].name", equals: n1 }
          - { path: "$.leader", matches: "^n\\\\d$" }
          - { path: "$.absent", exists: false }
        body: { contains: [leader, members] }
        maxMs: 60000
  - name: post-json
    http:
      url: http://127.0.0.1:${ok}/echo
      method: POST
      body: { hello: world }
      expect: { status: 200, body: { matches: "^ok" } }
  - name: server-error
    http:
      url: http://127.0.0.1:${broken}/
      expect: { body: { contains: nope } }
  - name: wrong-assertions
    http:
      url: http://127.0.0.1:${ok}/v3/status
      expect:
        status: 201
        headers: { x-missing: a, content-type: { equals: text/html } }
        json: [{ path: "$.header.revision", lt: 5 }, { path: "$.leader", exists: false }]
  - name: slow-over-max
    http:
      url: http://127.0.0.1:${slow}/
      expect: { maxMs: 100 }
  - name: never-answers
    timeout: 500ms
    http: { url: "http://127.0.0.1:${silent}/" }
  - name: not-json
    http:
      url: http://127.0.0.1:${ok}/
      expect: { json: [{ path: "$.a", exists: true }] }
  - name: connection-refused
    http: { url: "http://127.0.0.1:${closedPort}/" }
  - name: tcp-open
    tcp: { address: "127.0.0.1:${tcpPort}" }
  - name: tcp-closed
    tcp: { address: "127.0.0.1:${closedPort}" }
  - name: tcp-silent
    tcp: { address: "127.0.0.1:${silent}" }
  - name: grpc-server
    grpcHealth: { address: "127.0.0.1:${grpcPort}" }
  - name: grpc-keel
    grpcHealth: { address: "127.0.0.1:${grpcPort}", service: keel }
  - name: grpc-draining
    grpcHealth: { address: "127.0.0.1:${grpcPort}", service: draining }
  - name: grpc-unknown-service
    grpcHealth: { address: "127.0.0.1:${grpcPort}", service: nope }
  - name: grpc-closed
    grpcHealth: { address: "127.0.0.1:${closedPort}" }
  - name: grpc-never-answers
    timeout: 500ms
    grpcHealth: { address: "127.0.0.1:${silent}" }
`,
      'inline.yaml',
    );
    const startedAt = new Date();
    const results = byName(await runChecks(checks, { concurrency: 4 }));
    const verdict = (name: string): CheckResult => {
      const result = results.get(name);
      assert.ok(result !== undefined, name);
      return result;
    };
    const passes = (name: string): void => assert.equal(verdict(name).ok, true, `${name}: ${verdict(name).message ?? ''}`);
    const fails = (name: string, pattern: RegExp): void => {
      assert.equal(verdict(name).ok, false, `${name} passed`);
      assert.match(verdict(name).message ?? '', pattern, name);
    };
    for (const name of ['status-json', 'post-json', 'tcp-open', 'tcp-silent', 'grpc-server', 'grpc-keel']) passes(name);
    assert.equal(verdict('status-json').httpStatus, 200);
    assert.deepEqual(verdict('status-json').labels, { team: 'storage' });
    fails('server-error', /^status 500, expected 2xx; body does not contain "nope"$/);
    assert.equal(verdict('server-error').httpStatus, 500);
    const wrong = verdict('wrong-assertions').message ?? '';
    for (const part of ['status 200, expected 201', 'header x-missing missing', 'header content-type is "application/json", expected "text/html"', '$.header.revision is 17, expected < 5', '$.leader exists ("\\"n1\\""), expected it absent']) {
      assert.ok(wrong.includes(part), `missing ${part} in ${wrong}`);
    }
    fails('slow-over-max', /^took \d+ ms, more than maxMs 100$/);
    fails('never-answers', /timed out after 500 ms/);
    assert.equal(verdict('never-answers').timedOut, true);
    assert.equal(verdict('never-answers').httpStatus, undefined);
    fails('not-json', /body is not JSON: "ok\\n"/);
    fails('connection-refused', /ECONNREFUSED/);
    fails('tcp-closed', /ECONNREFUSED/);
    fails('grpc-draining', /service "draining" is NOT_SERVING/);
    fails('grpc-unknown-service', /NOT_FOUND/);
    fails('grpc-closed', /UNAVAILABLE/);
    fails('grpc-never-answers', /timed out after 500 ms|DEADLINE_EXCEEDED/);

    const xml = renderJunit({ suiteName: 'inline <checks>.yaml', startedAt, elapsedMs: 1234 }, [...results.values()]);
    const failed = [...results.values()].filter((result) => !result.ok).length;
    checkJunitStructure(xml, { tests: results.size, failures: failed });
    assert.ok(xml.includes('name="inline &lt;checks&gt;.yaml"'));
    assert.ok(xml.includes('<property name="team" value="storage"/>'));
    assert.ok(!xml.includes('\u0001'));
    if (hasXmllint()) execFileSync('xmllint', ['--noout', '-'], { input: xml });
  } finally {
    await resources.closeAll();
  }
});

test('serve: runs never overlap, slow runs skip slots, /metrics has probe_success, probe_duration_seconds and probe_http_status_code', { timeout: 120_000 }, async () => {
  const resources = new Resources();
  let inFlight = 0;
  let inFlightMax = 0;
  let served = 0;
  try {
    const slow = await httpServer(resources, (_request, response) => {
      inFlight++;
      inFlightMax = Math.max(inFlightMax, inFlight);
      setTimeout(() => {
        inFlight--;
        served++;
        response.end('ok\n');
      }, 300);
    });
    const [closedPort] = await freeLoopbackPorts(1);
    const checks = parseChecks(
      `checks:
  - { name: slow, labels: { tier: gold }, http: { url: "http://127.0.0.1:${slow}/" } }
  - { name: down, http: { url: "http://127.0.0.1:${closedPort}/", expect: { status: 200 } } }
  - { name: port, labels: { team: infra }, tcp: { address: "127.0.0.1:${closedPort}" } }
`,
      'inline.yaml',
    );
    // Port 0 in-process: the listener is this test's own, not a child's.
    const server = await ProbeServer.start(checks, { host: '127.0.0.1', port: 0, intervalMs: 100, concurrency: 4 });
    resources.add(() => server.close());
    const base = `http://127.0.0.1:${server.port}`;
    const metrics = await pollUntil('three runs of the slow check and a skipped slot', async () => {
      const text = await (await fetch(`${base}/metrics`)).text();
      const runs = Number(/keel_probe_runs_total\{probe="slow",team="",tier="gold",result="pass"\} (\d+)/.exec(text)?.[1] ?? 0);
      const skipped = Number(/keel_probe_runs_skipped_total\{probe="slow",team="",tier="gold"\} (\d+)/.exec(text)?.[1] ?? 0);
      return runs >= 3 && skipped >= 1 ? text : undefined;
    });
    assert.equal(inFlightMax, 1, 'two runs of one check overlapped');
    assert.ok(served >= 3);
    assert.match(metrics, /^probe_success\{probe="slow",team="",tier="gold"\} 1$/m);
    assert.match(metrics, /^probe_success\{probe="down",team="",tier=""\} 0$/m);
    assert.match(metrics, /^probe_success\{probe="port",team="infra",tier=""\} 0$/m);
    assert.match(metrics, /^probe_http_status_code\{probe="slow",team="",tier="gold"\} 200$/m);
    assert.match(metrics, /^probe_http_status_code\{probe="down",team="",tier=""\} 0$/m);
    assert.doesNotMatch(metrics, /probe_http_status_code\{probe="port"/);
    const duration = Number(/^probe_duration_seconds\{probe="slow",team="",tier="gold"\} ([\d.e-]+)$/m.exec(metrics)?.[1]);
    assert.ok(duration > 0, `probe_duration_seconds ${duration}`);
    const ready = await fetch(`${base}/readyz`);
    assert.equal(ready.status, 200);
    const results = (await (await fetch(`${base}/results`)).json()) as { checks: { name: string; ok: boolean }[] };
    assert.deepEqual(results.checks.map((check) => [check.name, check.ok]), [['slow', true], ['down', false], ['port', false]]);
    assert.equal((await fetch(`${base}/nope`)).status, 404);
  } finally {
    await resources.closeAll();
  }
});

test('run: checks in flight never exceed the concurrency bound', { timeout: 120_000 }, async () => {
  const resources = new Resources();
  let inFlight = 0;
  let inFlightMax = 0;
  try {
    const slow = await httpServer(resources, (_request, response) => {
      inFlight++;
      inFlightMax = Math.max(inFlightMax, inFlight);
      setTimeout(() => {
        inFlight--;
        response.end('ok\n');
      }, 100);
    });
    const checks = parseChecks(`checks:\n${Array.from({ length: 6 }, (_, index) => `  - { name: c${index}, timeout: 30s, http: { url: "http://127.0.0.1:${slow}/${index}" } }`).join('\n')}\n`, 'inline.yaml');
    const results = await runChecks(checks, { concurrency: 2 });
    assert.deepEqual(results.map((result) => [result.name, result.ok]), checks.map((check) => [check.name, true]));
    assert.ok(inFlightMax <= 2, `${inFlightMax} checks in flight with concurrency 2`);
  } finally {
    await resources.closeAll();
  }
});

/** A grpc-js server implementing grpc.health.v1.Health/Check from the published .proto: NOT_FOUND for a service it does not know, as the protocol says. */
async function healthServer(resources: Resources, statuses: Record<string, string>): Promise<number> {
  const definition = protoLoader.loadSync(join(import.meta.dirname, 'fixtures/health.proto'), { enums: String, defaults: true });
  const health = (grpc.loadPackageDefinition(definition) as unknown as { grpc: { health: { v1: { Health: grpc.ServiceClientConstructor } } } }).grpc.health.v1.Health;
  const server = new grpc.Server();
  server.addService(health.service, {
    Check: (call: grpc.ServerUnaryCall<{ service: string }, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      const status = statuses[call.request.service];
      if (status === undefined) callback({ code: grpc.status.NOT_FOUND, details: `unknown service ${call.request.service}` });
      else callback(null, { status });
    },
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))));
  resources.add(() => {
    server.forceShutdown();
  });
  return port;
}

function hasXmllint(): boolean {
  try {
    execFileSync('xmllint', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
