import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import { connect as h2connect, createSecureServer, type Http2SecureServer } from 'node:http2';
import { Client as GrpcClient, credentials as grpcCredentials, Server as GrpcServer, ServerCredentials, type ServerUnaryCall, type sendUnaryData } from '@grpc/grpc-js';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent } from 'undici';
import { seededRandom } from '../../src/resilience/index.js';
import { Gateway } from '../../src/gateway/gateway.js';
import { parseGatewayConfig } from '../../src/gateway/config.js';
import { issueCertificate, makeAuthority } from '../../src/cli/local-pki.js';
import { call } from './helpers.js';

/**
 * TLS from the gateway to its upstreams: verify, SNI, a client certificate (mTLS backend), on the fast path (fast engine),
 * undici (node engine) and node:http2 (h2c clusters over TLS, ALPN h2).
 */
describe('gateway TLS to upstreams', () => {
  const dir = mkdtempSync(join(tmpdir(), 'keel-gw-uptls-'));
  const authority = makeAuthority('keel upstream CA');
  const other = makeAuthority('another CA');
  const file = (name: string) => join(dir, name);
  let backend: Server;
  let backendAddress: string;
  const seen: Array<{ sni: string | false; clientCn: string }> = [];
  /** What the backend's /health answers, and the SNI names its probes sent. */
  let healthStatus = 200;
  const probes: Array<string | false> = [];
  const gateways: Gateway[] = [];
  const agent = new Agent();

  before(async () => {
    const server = issueCertificate(authority, 'backend.internal', ['backend.internal']);
    const client = issueCertificate(authority, 'gateway-client', ['gateway-client']);
    writeFileSync(file('ca.crt'), authority.certPem);
    writeFileSync(file('other-ca.crt'), other.certPem);
    writeFileSync(file('client.crt'), client.certPem);
    writeFileSync(file('client.key'), client.keyPem, { mode: 0o600 });
    backend = createServer({ cert: server.certPem, key: server.keyPem, ca: authority.certPem, requestCert: true, rejectUnauthorized: true }, (request, response) => {
      const socket = request.socket as TLSSocket;
      if (request.url === '/health') {
        probes.push((socket as TLSSocket & { servername?: string | false }).servername ?? false);
        response.statusCode = healthStatus;
        response.end();
        return;
      }
      seen.push({ sni: (socket as TLSSocket & { servername?: string | false }).servername ?? false, clientCn: String(socket.getPeerCertificate().subject?.CN) });
      request.resume();
      request.on('end', () => response.end('secure'));
    });
    await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', resolve));
    backendAddress = `127.0.0.1:${(backend.address() as AddressInfo).port}`;
  });

  after(async () => {
    await agent.close();
    for (const gateway of gateways) await gateway.close();
    backend.closeAllConnections();
    await new Promise<void>((resolve) => backend.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  });

  const start = async (engine: 'fast' | 'node', tls: Record<string, unknown>, cluster: Record<string, unknown> = { endpoints: [{ address: backendAddress }] }, listener: Record<string, unknown> = {}) => {
    const gateway = await Gateway.start({
      config: parseGatewayConfig({
        listeners: [{ port: 0, engine, ...listener }],
        routes: [{ name: 'all', match: { prefix: '/' }, cluster: 'secure', retry: { maxAttempts: 1 } }],
        clusters: { secure: { ...cluster, tls } },
      }),
      random: seededRandom(1),
    });
    gateways.push(gateway);
    return gateway;
  };

  const mtls = () => ({ caFile: file('ca.crt'), serverName: 'backend.internal', certFile: file('client.crt'), keyFile: file('client.key') });

  test('both engines verify the backend, send the SNI name and present the client certificate (keep-alive reused)', async () => {
    for (const engine of ['fast', 'node'] as const) {
      const gateway = await start(engine, mtls());
      seen.length = 0;
      for (let index = 0; index < 3; index++) {
        const reply = await call(agent, gateway.ports[0]!, '/');
        assert.equal(reply.status, 200, `${engine}: ${reply.body}`);
        assert.equal(reply.body, 'secure');
      }
      assert.deepEqual(seen[0], { sni: 'backend.internal', clientCn: 'gateway-client' }, engine);
    }
  });

  test('a backend certificate from another CA, or for another name, is refused (502): verify is on by default', async () => {
    for (const engine of ['fast', 'node'] as const) {
      const wrongCa = await start(engine, { ...mtls(), caFile: file('other-ca.crt') });
      assert.equal((await call(agent, wrongCa.ports[0]!, '/')).status, 502, engine);
      const wrongName = await start(engine, { ...mtls(), serverName: 'elsewhere.internal' });
      assert.equal((await call(agent, wrongName.ports[0]!, '/')).status, 502, engine);
    }
  });

  /** An HTTP/2-only TLS backend demanding a client certificate from the test CA; answers with a trailer, as gRPC servers do. */
  async function startH2Backend(): Promise<{ server: Http2SecureServer; address: string; seen: Array<{ sni: string | false; clientCn: string; alpn: string | false; scheme: string }> }> {
    const certificate = issueCertificate(authority, 'grpc.internal', ['grpc.internal']);
    const seen: Array<{ sni: string | false; clientCn: string; alpn: string | false; scheme: string }> = [];
    const server = createSecureServer({ cert: certificate.certPem, key: certificate.keyPem, ca: authority.certPem, requestCert: true, rejectUnauthorized: true });
    server.on('stream', (stream, headers) => {
      const socket = stream.session?.socket as TLSSocket;
      seen.push({ sni: (socket as TLSSocket & { servername?: string | false }).servername ?? false, clientCn: String(socket.getPeerCertificate().subject?.CN), alpn: socket.alpnProtocol ?? false, scheme: String(headers[':scheme']) });
      stream.respond({ ':status': 200, 'content-type': 'text/plain' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'x-status': 'done' }));
      stream.end('h2 secure');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return { server, address: `127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
  }

  /** One HTTP/2 request (cleartext, prior knowledge) to the gateway: status, body and trailers. */
  async function h2Get(port: number): Promise<{ status: number; body: string; trailers: Record<string, unknown> }> {
    const session = h2connect(`http://127.0.0.1:${port}`);
    try {
      return await new Promise((resolve, reject) => {
        session.on('error', reject);
        const stream = session.request({ ':path': '/', te: 'trailers' });
        let status = 0;
        let body = '';
        let trailers: Record<string, unknown> = {};
        stream.on('response', (head) => (status = Number(head[':status'])));
        stream.on('trailers', (received) => (trailers = Object.fromEntries(Object.entries(received))));
        stream.setEncoding('utf8');
        stream.on('data', (chunk: string) => (body += chunk));
        stream.on('end', () => resolve({ status, body, trailers }));
        stream.on('error', reject);
        stream.end();
      });
    } finally {
      session.close();
    }
  }

  test('h2c clusters over TLS: ALPN h2, verified, SNI and client certificate sent, trailers passed on; another CA is refused (502)', async () => {
    const h2 = await startH2Backend();
    try {
      const cluster = { protocol: 'h2c', endpoints: [{ address: h2.address }] };
      const gateway = await start('fast', { ...mtls(), serverName: 'grpc.internal' }, cluster, { protocol: 'h2c' });
      for (let index = 0; index < 3; index++) assert.deepEqual(await h2Get(gateway.ports[0]!), { status: 200, body: 'h2 secure', trailers: { 'x-status': 'done' } });
      assert.deepEqual(h2.seen[0], { sni: 'grpc.internal', clientCn: 'gateway-client', alpn: 'h2', scheme: 'https' });
      assert.equal(h2.seen.length, 3);
      const wrongCa = await start('fast', { ...mtls(), serverName: 'grpc.internal', caFile: file('other-ca.crt') }, cluster, { protocol: 'h2c' });
      assert.equal((await h2Get(wrongCa.ports[0]!)).status, 502);
      assert.equal(h2.seen.length, 3);
    } finally {
      h2.server.close();
    }
  });

  test('a gRPC call through the gateway to a grpc-js server with TLS and client-certificate auth', async () => {
    const certificate = issueCertificate(authority, 'grpc.internal', ['grpc.internal']);
    const echo = { path: '/keel.test.Echo/Unary', requestStream: false, responseStream: false, requestSerialize: (value: Buffer) => value, requestDeserialize: (value: Buffer) => value, responseSerialize: (value: Buffer) => value, responseDeserialize: (value: Buffer) => value };
    const grpcServer = new GrpcServer();
    grpcServer.addService({ Unary: echo }, { Unary: (call: ServerUnaryCall<Buffer, Buffer>, callback: sendUnaryData<Buffer>) => callback(null, Buffer.from(`echo ${call.request.toString()}`)) });
    const credentials = ServerCredentials.createSsl(Buffer.from(authority.certPem), [{ cert_chain: Buffer.from(certificate.certPem), private_key: Buffer.from(certificate.keyPem) }], true);
    const port = await new Promise<number>((resolve, reject) => grpcServer.bindAsync('127.0.0.1:0', credentials, (error, bound) => (error ? reject(error) : resolve(bound))));
    const gateway = await start('fast', { ...mtls(), serverName: 'grpc.internal' }, { protocol: 'h2c', endpoints: [{ address: `127.0.0.1:${port}` }] }, { protocol: 'h2c' });
    const client = new GrpcClient(`127.0.0.1:${gateway.ports[0]}`, grpcCredentials.createInsecure());
    try {
      const reply = await new Promise<string>((resolve, reject) => client.makeUnaryRequest(echo.path, echo.requestSerialize, echo.responseDeserialize, Buffer.from('hi'), (error, value) => (error ? reject(error) : resolve(String(value)))));
      assert.equal(reply, 'echo hi');
    } finally {
      client.close();
      await new Promise<void>((resolve) => grpcServer.tryShutdown(() => resolve()));
    }
  });

  test('HTTPS active health checks with the cluster\'s TLS: unhealthy when the health path fails, healthy again after; a backend certificate from another CA is unhealthy', async () => {
    const healthCheck = { path: '/health', intervalMs: 50, jitter: 0, timeoutMs: 2_000, healthyThreshold: 1, unhealthyThreshold: 1 };
    const cluster = { endpoints: [{ address: backendAddress }], healthCheck };
    const healthy = (gateway: Gateway): boolean => ((gateway.describe().clusters as Array<{ endpoints: Array<{ healthy: boolean }> }>)[0]!.endpoints[0]!.healthy);
    const until = async (what: string, condition: () => boolean): Promise<void> => {
      for (let waited = 0; !condition(); waited++) {
        if (waited > 500) assert.fail(`timed out waiting for ${what}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    };
    const checked = await start('fast', mtls(), cluster);
    const wrongCa = await start('fast', { ...mtls(), caFile: file('other-ca.crt') }, cluster);
    try {
      // The backend demands a client certificate from the test CA: a probe it answers presented one.
      await until('a probe to arrive', () => probes.length > 0);
      assert.equal(probes[0], 'backend.internal', 'the probe sends the cluster\'s SNI name');
      assert.equal(healthy(checked), true);
      healthStatus = 503;
      await until('the endpoint to turn unhealthy', () => !healthy(checked));
      healthStatus = 200;
      await until('the endpoint to turn healthy again', () => healthy(checked));
      await until('the endpoint with an untrusted certificate to turn unhealthy', () => !healthy(wrongCa));
    } finally {
      healthStatus = 200;
      await Promise.all([checked.close(), wrongCa.close()]);
    }
  });

  test('config: certFile without keyFile, unreadable files are typed errors; tls on h2c clusters is accepted', async () => {
    const base = { listeners: [{ port: 0 }], routes: [{ name: 'all', cluster: 'c' }] };
    assert.throws(() => parseGatewayConfig({ ...base, clusters: { c: { endpoints: [{ address: backendAddress }], tls: { certFile: 'x' } } } }), /certFile and keyFile together/);
    assert.equal(parseGatewayConfig({ ...base, clusters: { c: { protocol: 'h2c', endpoints: [{ address: backendAddress }], tls: {} } } }).clusters.c?.tls?.verify, true);
    const config = parseGatewayConfig({ ...base, clusters: { c: { endpoints: [{ address: backendAddress }], tls: { caFile: file('none.crt') } } } });
    await assert.rejects(Gateway.start({ config }), (error: Error & { code?: string }) => error.code === 'KEEL_GW_TLS_INVALID' && /clusters\.c\.tls\.caFile/.test(error.message));
  });
});
