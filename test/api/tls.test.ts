import { strict as assert } from 'node:assert';
import { spawn, spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { connect as connectTls } from 'node:tls';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Etcd3 } from 'etcd3';
import forge from 'node-forge';
import { Agent, setGlobalDispatcher, getGlobalDispatcher } from 'undici';
import type { Dispatcher } from 'undici';
import { Cluster, eventually, withTimeout } from '../node/cluster-harness.js';
import { issueCertificate, makeAuthority, writeLocalPki } from '../../src/cli/local-pki.js';
import type { LocalPki } from '../../src/cli/local-pki.js';
import { findEtcdctlBinary } from '../../bench/lib/etcd-cluster.js';

/**
 * One 3-member keel cluster of real processes with client and peer mutual
 * TLS (certificates from src/cli/local-pki.ts, as `keel up --tls` makes
 * them), reused by every case: etcdctl with --cacert/--cert/--key, the npm
 * etcd3 client with credentials, a peer with a certificate from another CA
 * refused and counted, and a certificate rotated under SIGHUP. The
 * members share one certificate file (SANs localhost, 127.0.0.1).
 */

const etcdctlPath = findEtcdctlBinary();

describe('member TLS (3 members, client and peer mTLS)', () => {
  let cluster: Cluster;
  let pki: LocalPki;
  let previousDispatcher: Dispatcher;
  const tlsFlags = (): string[] => {
    const member = pki.members.n!;
    return [
      '--cert-file', member.certFile, '--key-file', member.keyFile, '--trusted-ca-file', pki.caFile, '--client-cert-auth',
      '--peer-cert-file', member.certFile, '--peer-key-file', member.keyFile, '--peer-trusted-ca-file', pki.caFile, '--peer-client-cert-auth',
      '--peer-cert-allowed-cn', 'n',
    ];
  };
  const clientCredentials = () => ({ ca: readFileSync(pki.caFile), cert: readFileSync(pki.client.certFile), key: readFileSync(pki.client.keyFile) });

  before(async () => {
    const dir = join(process.env.TMPDIR ?? '/tmp', `keel-tls-${process.pid}`);
    pki = writeLocalPki(dir, ['n']);
    previousDispatcher = getGlobalDispatcher();
    // The harness's readiness probes and calls use fetch: trust the test CA and present the client certificate.
    setGlobalDispatcher(new Agent({ connect: clientCredentials() }));
    cluster = await Cluster.start({ nodes: 3, scheme: 'https', flags: tlsFlags() });
  });

  after(async () => {
    await cluster?.stop();
    setGlobalDispatcher(previousDispatcher);
  });

  const endpoints = (): string => cluster.members.map((m) => m.clientUrl).join(',');
  const etcdctl = (args: string[]) =>
    spawnSync(etcdctlPath!, [`--endpoints=${endpoints()}`, '--cacert', pki.caFile, '--cert', pki.client.certFile, '--key', pki.client.keyFile, '--command-timeout=10s', ...args], {
      env: { ...process.env, ETCDCTL_API: '3' }, encoding: 'utf8', timeout: 30_000,
    });

  it('etcdctl puts, gets, watches and reads endpoint status over TLS', { skip: !etcdctlPath && 'etcdctl not installed' }, async () => {
    const put = etcdctl(['put', 'tls/a', 'one']);
    assert.equal(put.status, 0, put.stderr);
    assert.match(put.stdout, /OK/);
    const get = etcdctl(['get', 'tls/a', '--print-value-only']);
    assert.equal(get.stdout.trim(), 'one', get.stderr);
    const status = etcdctl(['endpoint', 'status', '-w', 'json']);
    assert.equal(status.status, 0, status.stderr);
    assert.equal((JSON.parse(status.stdout) as unknown[]).length, 3);
    // A watch from revision 1 prints the put above and ends by itself (bounded by its timeout).
    const watch = spawn(etcdctlPath!, [`--endpoints=${cluster.members[0]!.clientUrl}`, '--cacert', pki.caFile, '--cert', pki.client.certFile, '--key', pki.client.keyFile, 'watch', 'tls/a', '--rev=1'], { env: { ...process.env, ETCDCTL_API: '3' } });
    let out = '';
    watch.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    try {
      await eventually(() => out.includes('one'), 15_000, 'the watch event');
    } finally {
      watch.kill('SIGKILL');
    }
  });

  it('the npm etcd3 client works with credentials', async () => {
    const { ca, cert, key } = clientCredentials();
    const client = new Etcd3({ hosts: cluster.members.map((m) => m.clientUrl), credentials: { rootCertificate: ca, certChain: cert, privateKey: key } });
    try {
      await client.put('tls/b').value('two').exec();
      assert.equal(await client.get('tls/b').string(), 'two');
    } finally {
      client.close();
    }
  });

  it('refuses a client without a certificate at the handshake', async () => {
    const url = new URL(cluster.members[0]!.clientUrl);
    const outcome = await withTimeout(
      new Promise<string>((resolve) => {
        const socket = connectTls({ host: url.hostname, port: Number(url.port), ca: readFileSync(pki.caFile), ALPNProtocols: ['http/1.1'] });
        socket.on('secureConnect', () => socket.write('GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n'));
        socket.on('data', () => resolve('answered'));
        socket.on('error', () => resolve('refused'));
        socket.on('close', () => resolve('refused'));
      }),
      10_000,
      'the client handshake',
    );
    assert.equal(outcome, 'refused');
  });

  it('refuses a peer whose certificate comes from another CA, and counts it', async () => {
    const other = makeAuthority('another CA');
    const stranger = issueCertificate(other, 'n', ['127.0.0.1']);
    const member = cluster.members[0]!;
    await withTimeout(
      new Promise<void>((resolve) => {
        const socket = connectTls({ host: '127.0.0.1', port: member.peerPort, cert: stranger.certPem, key: stranger.keyPem, ca: readFileSync(pki.caFile) });
        socket.on('error', () => resolve());
        socket.on('close', () => resolve());
      }),
      10_000,
      'the refused peer connection',
    );
    await eventually(async () => {
      const text = await (await fetch(`${member.clientUrl}/metrics`)).text();
      const line = text.split('\n').find((l) => l.startsWith('keel_peer_certificates_rejected_total'));
      return line !== undefined && Number(line.split(' ')[1]) >= 1;
    }, 10_000, 'keel_peer_certificates_rejected_total >= 1');
    await eventually(() => /refused a peer certificate/.test(member.stderr) && /"commonName":"n"/.test(member.stderr), 10_000, 'the refusal in the log');
  });

  it('reloads a rotated certificate on SIGHUP', async () => {
    const member = cluster.members[1]!;
    const servedSerial = (port: number) =>
      withTimeout(
        new Promise<string>((resolve, reject) => {
          const { ca, cert, key } = clientCredentials();
          const socket = connectTls({ host: '127.0.0.1', port, ca, cert, key }, () => {
            resolve(socket.getPeerX509Certificate()!.serialNumber);
            socket.destroy();
          });
          socket.on('error', reject);
        }),
        10_000,
        'a TLS connection',
      );
    const before = await servedSerial(member.clientPort);
    assert.equal(before, new X509Certificate(readFileSync(pki.members.n!.certFile)).serialNumber);
    const caKey = readFileSync(join(pki.caFile, '../ca.key'), 'utf8');
    const rotated = issueCertificate(authorityFrom(readFileSync(pki.caFile, 'utf8'), caKey), 'n', ['localhost', '127.0.0.1']);
    writeFileSync(pki.members.n!.keyFile, rotated.keyPem);
    writeFileSync(pki.members.n!.certFile, rotated.certPem);
    const expected = new X509Certificate(rotated.certPem).serialNumber;
    assert.notEqual(expected, before);
    member.child!.kill('SIGHUP');
    await eventually(async () => (await servedSerial(member.clientPort)) === expected, 10_000, 'the client port serving the new certificate');
    await eventually(async () => (await servedSerial(member.peerPort)) === expected, 10_000, 'the peer port serving the new certificate');
    // Still a working member: a write through it commits.
    await cluster.putUntilAcknowledged('tls/c', 'three');
  });
});

/** The CA as written by writeLocalPki, for issuing a rotated certificate. */
function authorityFrom(certPem: string, keyPem: string) {
  return { cert: forge.pki.certificateFromPem(certPem), key: forge.pki.privateKeyFromPem(keyPem) as forge.pki.rsa.PrivateKey };
}
