import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest, Agent as HttpsAgent } from 'node:https';
import { connect as h2connect } from 'node:http2';
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash, X509Certificate } from 'node:crypto';
import { seededRandom } from '../../src/resilience/index.js';
import { Gateway } from '../../src/gateway/gateway.js';
import { parseGatewayConfig } from '../../src/gateway/config.js';
import { issueCertificate, makeAuthority } from '../../src/cli/local-pki.js';
import { forwardedClientCertValue } from '../../src/gateway/tls-listener.js';
import { type Backend, simpleConfig, startBackend } from './helpers.js';

/** TLS termination on every listener kind, with real sockets and certificates from a throwaway CA (src/cli/local-pki.ts). */

const LISTENERS = ['fast', 'node', 'auto', 'h2'] as const;
/** Listeners that ask for client certificates: required on each engine and HTTP/2, optional on auto. */
const MTLS_LISTENERS = ['mtlsFast', 'mtlsNode', 'mtlsH2', 'mtlsOptional'] as const;
type ListenerName = (typeof LISTENERS)[number] | (typeof MTLS_LISTENERS)[number];
type Pem = { certPem: string; keyPem: string };

describe('gateway TLS listeners', { timeout: 60_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'keel-gw-tls-'));
  const authority = makeAuthority('keel gw test CA');
  /** The CA client certificates must chain to (certificates from `authority` are untrusted as clients). */
  const clientAuthority = makeAuthority('keel gw clients CA');
  const alice = issueCertificate(clientAuthority, 'alice', ['alice.clients']);
  const mallory = issueCertificate(authority, 'mallory', ['mallory.clients']);
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
    writeFileSync(file('clients-ca.crt'), clientAuthority.certPem);
    backend = await startBackend('up', (request, response) => {
      request.resume();
      const clientCert = request.headers['x-forwarded-client-cert'];
      request.on('end', () => response.end(`up ${String(request.headers['x-forwarded-proto'])}${clientCert === undefined ? '' : ` ${String(clientCert)}`}`));
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
        { name: 'mtls-fast', port: 0, protocol: 'http1', engine: 'fast', tls: { ...tls, clientCertificate: { caFile: file('clients-ca.crt') } } },
        { name: 'mtls-node', port: 0, protocol: 'http1', engine: 'node', tls: { ...tls, minVersion: 'TLSv1.2', clientCertificate: { caFile: file('clients-ca.crt'), required: true } } },
        { name: 'mtls-h2', port: 0, protocol: 'h2c', tls: { ...tls, clientCertificate: { caFile: file('clients-ca.crt') } } },
        { name: 'mtls-optional', port: 0, protocol: 'auto', tls: { ...tls, clientCertificate: { caFile: file('clients-ca.crt'), required: false } } },
      ],
      admin: { port: 0 },
    };
    gateway = await Gateway.start({ config: parseGatewayConfig(raw), random: seededRandom(1) });
    [...LISTENERS, ...MTLS_LISTENERS].forEach((name, index) => (ports[name] = gateway.ports[index]!));
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

  /**
   * One request for `/` with SNI a.example (a fresh connection unless `agent` keeps or resumes one), presenting `client`'s
   * certificate if given; rejects when the handshake or request is refused.
   */
  async function request(port: number, protocol: 'h1' | 'h2', client: Pem | undefined, headers: Record<string, string> = {}, agent: HttpsAgent | false = false): Promise<{ status: number; body: string }> {
    const credentials = client === undefined ? {} : { cert: client.certPem, key: client.keyPem };
    if (protocol === 'h2') {
      const session = h2connect(`https://127.0.0.1:${port}`, { ca, servername: 'a.example', ...credentials });
      try {
        return await new Promise((resolve, reject) => {
          session.on('error', reject);
          const stream = session.request({ ':path': '/', ':authority': 'a.example', ...headers });
          let status = 0;
          let body = '';
          stream.on('response', (head) => (status = Number(head[':status'])));
          stream.setEncoding('utf8');
          stream.on('data', (chunk: string) => (body += chunk));
          // A stream ended by the connection's death (a refused TLS 1.3 client learns late) has no response head.
          stream.on('end', () => (status === 0 ? reject(new Error('no response')) : resolve({ status, body })));
          stream.on('error', reject);
          stream.on('close', () => reject(new Error(`stream closed (${stream.rstCode})`)));
          stream.end();
        });
      } finally {
        session.destroy();
      }
    }
    return new Promise((resolve, reject) => {
      const req = httpsRequest({ host: '127.0.0.1', port, path: '/', servername: 'a.example', ca, agent, ...credentials, headers: { host: 'a.example', ...headers } }, (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (body += chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.end();
    });
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
        for (let index = 0; index < 3; index++) assert.deepEqual(await request(ports[name], 'h1', undefined, {}, agent), { status: 200, body: 'up https' }, name);
      }
    } finally {
      agent.destroy();
    }
    for (const name of ['auto', 'h2'] as const) assert.deepEqual(await request(ports[name], 'h2', undefined), { status: 200, body: 'up https' }, name);
  });

  test('a garbage handshake ends only that connection and is counted', async () => {
    const closed = new Promise<void>((resolve) => {
      const socket = netConnect(ports.fast, '127.0.0.1', () => socket.write(Buffer.alloc(512, 0x41)));
      socket.on('error', () => {});
      socket.on('close', () => resolve());
    });
    await closed;
    const metrics = await gateway.metrics.registry.getSingleMetricAsString('keel_gateway_tls_handshake_errors_total');
    assert.match(metrics, /keel_gateway_tls_handshake_errors_total\{reason="other"\} [1-9]/);
    const agent = new HttpsAgent();
    try {
      assert.equal((await request(ports.fast, 'h1', undefined, {}, agent)).status, 200);
    } finally {
      agent.destroy();
    }
  });

  /** What the upstream must see for `client`: Envoy's Hash (SHA-256 of the DER) and Subject (RFC 2253, most specific last in the certificate, first here). */
  const xfccOf = (client: Pem): string => `Hash=${createHash('sha256').update(new X509Certificate(client.certPem).raw).digest('hex')};Subject="O=keel local,CN=${/CN=([^\n]+)/.exec(new X509Certificate(client.certPem).subject)?.[1]}"`;
  const spoofed = { 'x-forwarded-client-cert': 'Hash=00;Subject="CN=admin"' };
  const clientCertErrors = async (): Promise<number> => {
    const text = await gateway.metrics.registry.getSingleMetricAsString('keel_gateway_tls_handshake_errors_total');
    return Number(/reason="client_certificate"\} (\d+)/.exec(text)?.[1] ?? 0);
  };

  test('client certificates required: a trusted one is forwarded as x-forwarded-client-cert (a spoofed one replaced); none or an untrusted one is refused at the handshake and counted', async () => {
    const cases = [['mtlsFast', 'h1'], ['mtlsNode', 'h1'], ['mtlsH2', 'h2']] as const;
    for (const [name, protocol] of cases) {
      assert.deepEqual(await request(ports[name], protocol, alice, spoofed), { status: 200, body: `up https ${xfccOf(alice)}` }, name);
      const refusedBefore = await clientCertErrors();
      const hitsBefore = backend.hits;
      await assert.rejects(request(ports[name], protocol, undefined), `${name}: no certificate`);
      await assert.rejects(request(ports[name], protocol, mallory), `${name}: a certificate from another CA`);
      assert.equal(backend.hits, hitsBefore, `${name}: a request sent right after a refused TLS 1.3 handshake never reaches the upstream`);
      // The server's side of a TLS 1.3 refusal may finish after the client has seen its error.
      for (let waited = 0; (await clientCertErrors()) < refusedBefore + 2 && waited < 100; waited++) await new Promise((resolve) => setTimeout(resolve, 20));
      assert.equal(await clientCertErrors(), refusedBefore + 2, `${name}: both refusals counted as client_certificate`);
    }
  });

  test('client certificates optional: unverified clients pass with no identity; x-forwarded-client-cert from clients is always stripped', async () => {
    for (const protocol of ['h1', 'h2'] as const) {
      assert.deepEqual(await request(ports.mtlsOptional, protocol, alice, spoofed), { status: 200, body: `up https ${xfccOf(alice)}` }, protocol);
      assert.deepEqual(await request(ports.mtlsOptional, protocol, undefined, spoofed), { status: 200, body: 'up https' }, protocol);
      assert.deepEqual(await request(ports.mtlsOptional, protocol, mallory, spoofed), { status: 200, body: 'up https' }, protocol);
    }
    // Listeners that ask for no certificate drop a client's header too (cleartext: test/gateway/proxy.test.ts).
    for (const name of ['fast', 'node', 'auto'] as const) assert.deepEqual(await request(ports[name], 'h1', alice, spoofed), { status: 200, body: 'up https' }, name);
    assert.deepEqual(await request(ports.h2, 'h2', undefined, spoofed), { status: 200, body: 'up https' });
  });

  test('x-forwarded-client-cert: the subject is RFC 2253 (most specific first) and printable ASCII whatever the certificate says', () => {
    const der = Buffer.from('certificate bytes');
    const hash = createHash('sha256').update(der).digest('hex');
    assert.equal(forwardedClientCertValue(der, 'C=FR\nO=Acme\\, Inc\nCN=\u00e9\u010a'), `Hash=${hash};Subject="CN=\\C3\\A9\\C4\\8A,O=Acme\\, Inc,C=FR"`);
  });

  test('a reload re-reads the client CA: a rotated CA trusts only its own clients; an unreadable or non-PEM CA refuses the reload naming the field', async () => {
    const rotated = makeAuthority('keel gw clients CA 2');
    const bob = issueCertificate(rotated, 'bob', ['bob.clients']);
    // No keep-alive but a TLS session cache: the second connection resumes, and keeps alice's identity.
    const resuming = new HttpsAgent({ keepAlive: false });
    try {
      for (let index = 0; index < 2; index++) assert.deepEqual(await request(ports.mtlsFast, 'h1', alice, {}, resuming), { status: 200, body: `up https ${xfccOf(alice)}` });
      writeFileSync(file('clients-ca.crt'), rotated.certPem);
      await gateway.reload(parseGatewayConfig(raw));
      assert.deepEqual(await request(ports.mtlsFast, 'h1', bob), { status: 200, body: `up https ${xfccOf(bob)}` });
      await assert.rejects(request(ports.mtlsFast, 'h1', alice), 'alice chains to the old CA');
      await assert.rejects(request(ports.mtlsFast, 'h1', alice, {}, resuming), 'a session begun under the old CA does not resume past the rotation');
      writeFileSync(file('clients-ca.crt'), 'not a pem');
      await assert.rejects(gateway.reload(parseGatewayConfig(raw)), (error: Error & { code?: string }) => error.code === 'KEEL_GW_TLS_INVALID' && /listeners\.4\.tls\.clientCertificate\.caFile/.test(error.message));
      rmSync(file('clients-ca.crt'));
      await assert.rejects(gateway.reload(parseGatewayConfig(raw)), (error: Error & { code?: string }) => error.code === 'KEEL_GW_TLS_INVALID' && /clientCertificate\.caFile/.test(error.message));
      assert.equal((await request(ports.mtlsNode, 'h1', bob)).status, 200, 'the running CA stays');
      // `required` is read per connection: a reload can relax it (and tighten it again) on a bound listener.
      writeFileSync(file('clients-ca.crt'), rotated.certPem);
      const relaxed = structuredClone(raw) as { listeners: Array<{ tls: { clientCertificate?: { required: boolean } } }> };
      relaxed.listeners[4]!.tls.clientCertificate!.required = false;
      await gateway.reload(parseGatewayConfig(relaxed));
      assert.deepEqual(await request(ports.mtlsFast, 'h1', undefined), { status: 200, body: 'up https' });
      await gateway.reload(parseGatewayConfig(raw));
      await assert.rejects(request(ports.mtlsFast, 'h1', undefined), 'required again');
    } finally {
      resuming.destroy();
      writeFileSync(file('clients-ca.crt'), clientAuthority.certPem);
      await gateway.reload(parseGatewayConfig(raw));
    }
  });

  test('a reload re-reads the certificates; a bad key refuses the reload (KEEL_GW_TLS_INVALID) and the running ones stay', async () => {
    const before = await handshake(ports.fast, 'a.example', ['http/1.1']);
    const serial = writeCert('a', 'a.example', ['a.example']);
    assert.notEqual(serial, before.serial);
    await gateway.reload(parseGatewayConfig(raw));
    for (const name of LISTENERS) assert.equal((await handshake(ports[name], 'a.example', name === 'h2' ? ['h2'] : ['http/1.1'])).serial, serial, name);
    assert.deepEqual(gateway.ports, [...LISTENERS, ...MTLS_LISTENERS].map((name) => ports[name]), 'the listeners were kept, not rebound');
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
