import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createSecureServer, type Http2SecureServer, type ServerHttp2Session } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { freeLoopbackPorts } from '../../bench/lib/net.js';
import { issueCertificate, makeAuthority } from '../../src/cli/local-pki.js';
import { agentLinks, startAgent } from '../../src/load/agent.js';
import { runLoad, type RunConfig } from '../../src/load/index.js';
import { domainMatches } from '../../src/load/tls.js';

// One CA signs the server's certificate and a client's; neither is in the system roots.
const authority = makeAuthority('keel load tls-options CA', 1);
const leaf = issueCertificate(authority, 'localhost', ['localhost', '127.0.0.1'], 1);
const client = issueCertificate(authority, 'load-client', [], 1);
const main = join(import.meta.dirname, '../../src/cli/main.ts');

let dir: string;
let server: Http2SecureServer;
let url: string;
/** Per request: the HTTP version and the client certificate's CN, if one was presented. */
const sessions = new Set<ServerHttp2Session>();
const seen: { version: string; clientCn: string | undefined }[] = [];

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'keel-load-tls-'));
  writeFileSync(join(dir, 'ca.pem'), authority.certPem);
  // allowHTTP1: the same server answers h2 and HTTP/1.1, so the test sees what ALPN chose.
  server = createSecureServer({ cert: leaf.certPem, key: leaf.keyPem, allowHTTP1: true, requestCert: true, rejectUnauthorized: false, ca: authority.certPem }, (request, response) => {
    const peer = (request.socket as TLSSocket).getPeerCertificate();
    const cn = peer?.subject?.CN;
    seen.push({ version: request.httpVersion, clientCn: Array.isArray(cn) ? cn.join(',') : cn });
    response.end('ok');
  });
  server.on('session', (session) => sessions.add(session.on('close', () => sessions.delete(session))));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/`;
});

after(async () => {
  for (const session of sessions) session.destroy();
  await new Promise((resolve) => server.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

const quiet = (): Writable => new Writable({ write: (_chunk, _encoding, done) => done() });

/** A scenario: `iterations` GETs of the server with these options; proto sub-metrics recorded. */
function scenario(name: string, options: Record<string, unknown>, iterations = 2): string {
  const file = join(dir, `${name}.mjs`);
  const thresholds = { 'http_reqs{proto:HTTP/2.0}': ['count>=0'], 'http_reqs{proto:HTTP/1.1}': ['count>=0'] };
  writeFileSync(file, `export const options = ${JSON.stringify({ iterations, thresholds, ...options })};\nexport default async function (vu) { await vu.http.get(${JSON.stringify(url)}); }\n`);
  return file;
}

async function run(config: Partial<RunConfig> & { scenarioFile: string }) {
  seen.length = 0;
  return runLoad({ workers: 0, output: quiet(), progress: false, ...config });
}

test('default: the private CA is not trusted, each request fails with a counted TLS code', async () => {
  const result = await run({ scenarioFile: scenario('strict', {}) });
  assert.equal(result.summary.rates.http_req_failed?.trues, 2);
  assert.deepEqual(result.summary.errors, { SELF_SIGNED_CERT_IN_CHAIN: 2 });
  assert.equal(seen.length, 0);
});

test('tlsCa (a file beside the scenario) is trusted over a forked worker; h2 by default, proto HTTP/2.0', { timeout: 60_000 }, async () => {
  const result = await run({ scenarioFile: scenario('ca-file', { tlsCa: 'ca.pem' }), workers: 1 });
  assert.equal(result.exitCode, 0, JSON.stringify(result.summary.errors));
  assert.equal(result.summary.rates.http_req_failed?.trues, 0);
  assert.deepEqual(seen.map((request) => request.version), ['2.0', '2.0']);
  assert.equal(result.summary.counters['http_reqs{proto:HTTP/2.0}']?.count, 2);
});

test('insecureSkipTLSVerify and http2: false reach an agent over its protocol: HTTP/1.1, proto HTTP/1.1', { timeout: 60_000 }, async () => {
  const [port] = await freeLoopbackPorts(1);
  const agent = await startAgent(`127.0.0.1:${port}`);
  try {
    const links = await agentLinks([`127.0.0.1:${port}`]);
    const result = await run({ scenarioFile: scenario('skip-h1', { insecureSkipTLSVerify: true, http2: false }), links });
    assert.equal(result.exitCode, 0, JSON.stringify(result.summary.errors));
    assert.deepEqual(seen.map((request) => request.version), ['1.1', '1.1']);
    assert.equal(result.summary.counters['http_reqs{proto:HTTP/1.1}']?.count, 2);
    assert.equal(result.summary.counters['http_reqs{proto:HTTP/2.0}'], undefined);
    for (const link of links) link.kill();
  } finally {
    agent.close();
  }
});

test('tlsAuth presents the client certificate to its domains only; tlsCa as PEM text', async () => {
  const options = (domains: string[]) => ({ tlsCa: authority.certPem, tlsAuth: [{ cert: client.certPem, key: client.keyPem, domains }] });
  await run({ scenarioFile: scenario('mtls', options(['127.0.0.1']), 1) });
  assert.deepEqual(seen, [{ version: '2.0', clientCn: 'load-client' }]);
  await run({ scenarioFile: scenario('mtls-other', options(['*.example.com']), 1) });
  assert.deepEqual(seen, [{ version: '2.0', clientCn: undefined }]);
});

test('tlsAuth domains: a name matches itself, *.suffix one label under it, case-insensitively', () => {
  assert.equal(domainMatches('api.internal', 'API.internal'), true);
  assert.equal(domainMatches('*.svc.internal', 'a.svc.internal'), true);
  assert.equal(domainMatches('*.svc.internal', 'a.b.svc.internal'), false);
  assert.equal(domainMatches('*.svc.internal', 'svc.internal'), false);
  assert.equal(domainMatches('::1', '[::1]'), true);
});

test('bad TLS options are bad input naming the field (exit 2 from the command)', { timeout: 60_000 }, async () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ insecureSkipTLSVerify: 'yes' }, /options\.insecureSkipTLSVerify: Invalid input: expected boolean/],
    [{ http2: 0 }, /options\.http2: /],
    [{ tlsCa: 'missing.pem' }, /options\.tlsCa: neither PEM text nor a readable file: .*missing\.pem \(ENOENT\)/],
    [{ tlsCa: '-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n' }, /options\.tlsCa: not a PEM certificate/],
    [{ tlsAuth: [{ cert: client.certPem, key: leaf.keyPem }] }, /options\.tlsAuth\.0\.key: does not belong to options\.tlsAuth\.0\.cert/],
    [{ tlsAuth: [{ cert: client.certPem }] }, /options\.tlsAuth\.0\.key: /],
  ];
  for (const [index, [options, message]] of cases.entries()) {
    await assert.rejects(run({ scenarioFile: scenario(`bad-${index}`, options) }), (error: { code?: string; message: string }) => {
      assert.equal(error.code, 'KEEL_LOAD_BAD_INPUT');
      assert.match(error.message, message);
      return true;
    });
  }
  const child = spawn(process.execPath, ['--import', 'tsx', main, 'load', scenario('bad-cli', { insecureSkipTLSVerify: 'yes' }), '--workers', '0', '--quiet'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr += String(chunk)));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  assert.equal(code, 2, stderr);
  assert.match(stderr, /options\.insecureSkipTLSVerify/);
});
