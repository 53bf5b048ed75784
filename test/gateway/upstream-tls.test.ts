import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
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

/** TLS from the gateway to its upstreams: verify, SNI, a client certificate (mTLS backend), on the fast path (fast engine) and undici (node engine). */
describe('gateway TLS to upstreams', () => {
  const dir = mkdtempSync(join(tmpdir(), 'keel-gw-uptls-'));
  const authority = makeAuthority('keel upstream CA');
  const other = makeAuthority('another CA');
  const file = (name: string) => join(dir, name);
  let backend: Server;
  let backendAddress: string;
  const seen: Array<{ sni: string | false; clientCn: string }> = [];
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

  const start = async (engine: 'fast' | 'node', tls: Record<string, unknown>) => {
    const gateway = await Gateway.start({
      config: parseGatewayConfig({
        listeners: [{ port: 0, engine }],
        routes: [{ name: 'all', match: { prefix: '/' }, cluster: 'secure', retry: { maxAttempts: 1 } }],
        clusters: { secure: { endpoints: [{ address: backendAddress }], tls } },
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

  test('config: certFile without keyFile, tls on h2c clusters, unreadable files are typed errors', async () => {
    const base = { listeners: [{ port: 0 }], routes: [{ name: 'all', cluster: 'c' }] };
    assert.throws(() => parseGatewayConfig({ ...base, clusters: { c: { endpoints: [{ address: backendAddress }], tls: { certFile: 'x' } } } }), /certFile and keyFile together/);
    assert.throws(() => parseGatewayConfig({ ...base, clusters: { c: { protocol: 'h2c', endpoints: [{ address: backendAddress }], tls: {} } } }), /clusters\.c\.tls/);
    const config = parseGatewayConfig({ ...base, clusters: { c: { endpoints: [{ address: backendAddress }], tls: { caFile: file('none.crt') } } } });
    await assert.rejects(Gateway.start({ config }), (error: Error & { code?: string }) => error.code === 'KEEL_GW_TLS_INVALID' && /clusters\.c\.tls\.caFile/.test(error.message));
  });
});
