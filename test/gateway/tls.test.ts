import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest, Agent as HttpsAgent } from 'node:https';
import { connect as h2connect } from 'node:http2';
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { seededRandom } from '../../src/resilience/index.js';
import { Gateway } from '../../src/gateway/gateway.js';
import { parseGatewayConfig } from '../../src/gateway/config.js';
import { issueCertificate, makeAuthority } from '../../src/cli/local-pki.js';
import { type Backend, simpleConfig, startBackend } from './helpers.js';

/** TLS termination on every listener kind, with real sockets and certificates from a throwaway CA (src/cli/local-pki.ts). */

const LISTENERS = ['fast', 'node', 'auto', 'h2'] as const;
type ListenerName = (typeof LISTENERS)[number];

describe('gateway TLS listeners', { timeout: 60_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'keel-gw-tls-'));
  const authority = makeAuthority('keel gw test CA');
  const ca = authority.certPem;
  const file = (name: string) => join(dir, name);
  const writeCert = (name: string, commonName: string, hosts: string[]): string => {
    const issued = issueCertificate(authority, commonName, hosts);
    writeFileSync(file(`${name}.crt`), issued.certPem);
    writeFileSync(file(`${name}.key`), issued.keyPem, { mode: 0o600 });
    return issued.serial;
  };
  let backend: Backend;
  let gateway: Gateway;
  let raw: Record<string, unknown>;
  const ports = {} as Record<ListenerName, number>;

  before(async () => {
    writeCert('default', 'default.test', ['localhost', '127.0.0.1']);
    writeCert('a', 'a.example', ['a.example']);
    writeCert('b', 'wild.b.example', ['*.b.example']);
    backend = await startBackend('up', (request, response) => {
      request.resume();
      request.on('end', () => response.end(`up ${String(request.headers['x-forwarded-proto'])}`));
    });
    const tls = {
      certificates: [
        { serverNames: ['a.example'], certFile: file('a.crt'), keyFile: file('a.key') },
        { certFile: file('default.crt'), keyFile: file('default.key') },
        { serverNames: ['*.b.example'], certFile: file('b.crt'), keyFile: file('b.key') },
      ],
    };
    raw = {
      ...simpleConfig([backend.address]),
      listeners: [
        { name: 'fast', port: 0, protocol: 'http1', engine: 'fast', tls },
        { name: 'node', port: 0, protocol: 'http1', engine: 'node', tls },
        { name: 'auto', port: 0, protocol: 'auto', tls },
        { name: 'h2', port: 0, protocol: 'h2c', tls: { ...tls, minVersion: 'TLSv1.3' } },
      ],
      admin: { port: 0 },
    };
    gateway = await Gateway.start({ config: parseGatewayConfig(raw), random: seededRandom(1) });
    LISTENERS.forEach((name, index) => (ports[name] = gateway.ports[index]!));
  });

  after(async () => {
    await gateway?.close();
    await backend?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** One handshake: the certificate's CN and serial, and the protocol ALPN chose. */
  function handshake(port: number, servername: string | undefined, ALPNProtocols: string[]): Promise<{ cn: string; serial: string; alpn: string | false }> {
    return new Promise((resolve, reject) => {
      const socket = tlsConnect({ host: '127.0.0.1', port, ca, ...(servername ? { servername } : {}), ALPNProtocols, checkServerIdentity: () => undefined }, () => {
        const cert = socket.getPeerX509Certificate() as X509Certificate;
        resolve({ cn: /CN=([^\n]+)/.exec(cert.subject)?.[1] ?? '', serial: cert.serialNumber.toLowerCase(), alpn: socket.alpnProtocol ?? false });
        socket.end();
      });
      socket.on('error', reject);
    });
  }

  function https1(port: number, servername: string, agent: HttpsAgent): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const req = httpsRequest({ host: '127.0.0.1', port, path: '/', servername, ca, agent, headers: { host: servername } }, (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (body += chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.end();
    });
  }

  async function https2(port: number, servername: string): Promise<{ status: number; body: string }> {
    const session = h2connect(`https://127.0.0.1:${port}`, { ca, servername });
    try {
      return await new Promise((resolve, reject) => {
        session.on('error', reject);
        const stream = session.request({ ':path': '/', ':authority': servername });
        let status = 0;
        let body = '';
        stream.on('response', (headers) => (status = Number(headers[':status'])));
        stream.setEncoding('utf8');
        stream.on('data', (chunk: string) => (body += chunk));
        stream.on('end', () => resolve({ status, body }));
        stream.on('error', reject);
        stream.end();
      });
    } finally {
      session.close();
    }
  }

  test('SNI picks the certificate per host: exact, wildcard, and the default for unknown names or none', async () => {
    for (const name of LISTENERS) {
      const port = ports[name];
      const alpn = name === 'h2' ? ['h2'] : ['http/1.1'];
      assert.equal((await handshake(port, 'a.example', alpn)).cn, 'a.example', name);
      assert.equal((await handshake(port, 'x.b.example', alpn)).cn, 'wild.b.example', name);
      assert.equal((await handshake(port, 'unknown.example', alpn)).cn, 'default.test', name);
      assert.equal((await handshake(port, undefined, alpn)).cn, 'default.test', name);
    }
  });

  test('ALPN: auto offers h2 and http/1.1, http1 only http/1.1, h2c-style only h2', async () => {
    assert.equal((await handshake(ports.auto, 'a.example', ['h2', 'http/1.1'])).alpn, 'h2');
    assert.equal((await handshake(ports.auto, 'a.example', ['http/1.1'])).alpn, 'http/1.1');
    for (const name of ['fast', 'node'] as const) assert.equal((await handshake(ports[name], 'a.example', ['h2', 'http/1.1'])).alpn, 'http/1.1', name);
    assert.equal((await handshake(ports.h2, 'a.example', ['h2', 'http/1.1'])).alpn, 'h2');
  });

  test('HTTP/1.1 over TLS on the fast and node engines (keep-alive), HTTP/2 over TLS on auto and h2; upstream sees x-forwarded-proto https', async () => {
    const agent = new HttpsAgent({ keepAlive: true, maxSockets: 1 });
    try {
      for (const name of ['fast', 'node', 'auto'] as const) {
        for (let index = 0; index < 3; index++) assert.deepEqual(await https1(ports[name], 'a.example', agent), { status: 200, body: 'up https' }, name);
      }
    } finally {
      agent.destroy();
    }
    for (const name of ['auto', 'h2'] as const) assert.deepEqual(await https2(ports[name], 'a.example'), { status: 200, body: 'up https' }, name);
  });

  test('a garbage handshake ends only that connection and is counted', async () => {
    const closed = new Promise<void>((resolve) => {
      const socket = netConnect(ports.fast, '127.0.0.1', () => socket.write(Buffer.alloc(512, 0x41)));
      socket.on('error', () => {});
      socket.on('close', () => resolve());
    });
    await closed;
    const metrics = await gateway.metrics.registry.getSingleMetricAsString('keel_gateway_tls_handshake_errors_total');
    assert.match(metrics, /keel_gateway_tls_handshake_errors_total [1-9]/);
    const agent = new HttpsAgent();
    try {
      assert.equal((await https1(ports.fast, 'a.example', agent)).status, 200);
    } finally {
      agent.destroy();
    }
  });

  test('a reload re-reads the certificates; a bad key refuses the reload (KEEL_GW_TLS_INVALID) and the running ones stay', async () => {
    const before = await handshake(ports.fast, 'a.example', ['http/1.1']);
    const serial = writeCert('a', 'a.example', ['a.example']);
    assert.notEqual(serial, before.serial);
    await gateway.reload(parseGatewayConfig(raw));
    for (const name of LISTENERS) assert.equal((await handshake(ports[name], 'a.example', name === 'h2' ? ['h2'] : ['http/1.1'])).serial, serial, name);
    assert.deepEqual(gateway.ports, LISTENERS.map((name) => ports[name]), 'the listeners were kept, not rebound');
    // A key that does not match its certificate.
    writeFileSync(file('a.key'), issueCertificate(authority, 'other', ['other']).keyPem);
    await assert.rejects(gateway.reload(parseGatewayConfig(raw)), (error: Error & { code?: string }) => error.code === 'KEEL_GW_TLS_INVALID' && /listeners\.0\.tls\.certificates\.0/.test(error.message));
    writeFileSync(file('b.crt'), 'not a pem');
    await assert.rejects(gateway.reload(parseGatewayConfig(raw)), (error: Error & { code?: string }) => error.code === 'KEEL_GW_TLS_INVALID');
    assert.equal((await handshake(ports.fast, 'a.example', ['http/1.1'])).serial, serial, 'the running certificate stays');
  });

  test('config: tls needs a certificate, and a missing file at start is a typed error', async () => {
    assert.throws(() => parseGatewayConfig({ ...simpleConfig(['127.0.0.1:1']), listeners: [{ port: 0, tls: { certificates: [] } }] }), /listeners\.0\.tls\.certificates/);
    const config = parseGatewayConfig({ ...simpleConfig(['127.0.0.1:1']), listeners: [{ port: 0, tls: { certificates: [{ certFile: file('none.crt'), keyFile: file('none.key') }] } }] });
    await assert.rejects(Gateway.start({ config }), (error: Error & { code?: string }) => error.code === 'KEEL_GW_TLS_INVALID' && error.message.includes('none.crt'));
  });
});
