import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Etcd3, EtcdPermissionDeniedError } from 'etcd3';
import type { Watcher } from 'etcd3';
import forge from 'node-forge';
import { Agent, getGlobalDispatcher, setGlobalDispatcher } from 'undici';
import type { Dispatcher } from 'undici';
import { Cluster, eventually, withTimeout } from '../node/cluster-harness.js';
import { issueCertificate, writeLocalPki } from '../../src/cli/local-pki.js';
import type { LocalPki } from '../../src/cli/local-pki.js';

/**
 * Auth on a member with client and peer mutual TLS, as an attacker and an
 * operator would meet it. One 1-member keel cluster of a real process,
 * reused by every case in order (later cases rely on the users and roles
 * the first one makes):
 * - a verified client certificate acts as the user its CN names when no
 *   token comes; a token wins over the certificate (etcd's AuthInfoFromTLS);
 * - open watches are canceled with "etcdserver: permission denied" once
 *   their user loses READ, and keep working across unrelated auth changes.
 * `--bcrypt-cost 4` keeps hashing cheap (the cost is not what is tested).
 */

const ROOT_PASSWORD = 'root-Secret-4711';
const ALICE_PASSWORD = 'alice-Secret-0815';

interface Credentials {
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
}

describe('auth hardening (1 member, client and peer mTLS)', () => {
  let cluster: Cluster;
  let pki: LocalPki;
  let previousDispatcher: Dispatcher;
  const clients: Etcd3[] = [];
  const certificates = new Map<string, Credentials>();

  /** Client credentials whose certificate's CN is `commonName` (issued once by the test CA). */
  const credentialsOf = (commonName: string): Credentials => {
    let credentials = certificates.get(commonName);
    if (!credentials) {
      const authority = { cert: forge.pki.certificateFromPem(readFileSync(pki.caFile, 'utf8')), key: forge.pki.privateKeyFromPem(readFileSync(join(pki.caFile, '../ca.key'), 'utf8')) as forge.pki.rsa.PrivateKey };
      const issued = issueCertificate(authority, commonName, ['localhost']);
      credentials = { ca: readFileSync(pki.caFile), cert: Buffer.from(issued.certPem), key: Buffer.from(issued.keyPem) };
      certificates.set(commonName, credentials);
    }
    return credentials;
  };
  /** An etcd3 client presenting a certificate with CN `commonName`, and a username/password when given. */
  const client = (commonName: string, auth?: { username: string; password: string }): Etcd3 => {
    const { ca, cert, key } = credentialsOf(commonName);
    const made = new Etcd3({ hosts: cluster.members[0]!.clientUrl, credentials: { rootCertificate: ca, certChain: cert, privateKey: key }, dialTimeout: 5_000, ...(auth ? { auth } : {}) });
    clients.push(made);
    return made;
  };

  before(async () => {
    const dir = join(process.env.TMPDIR ?? '/tmp', `keel-auth-hardening-${process.pid}`);
    pki = writeLocalPki(dir, ['n']);
    previousDispatcher = getGlobalDispatcher();
    // The harness probes with fetch: present the CN=root client certificate (root once auth is on).
    setGlobalDispatcher(new Agent({ connect: { ca: readFileSync(pki.caFile), cert: readFileSync(pki.client.certFile), key: readFileSync(pki.client.keyFile) } }));
    const member = pki.members.n!;
    cluster = await Cluster.start({
      nodes: 1,
      scheme: 'https',
      flags: [
        '--cert-file', member.certFile, '--key-file', member.keyFile, '--trusted-ca-file', pki.caFile, '--client-cert-auth',
        '--peer-cert-file', member.certFile, '--peer-key-file', member.keyFile, '--peer-trusted-ca-file', pki.caFile, '--peer-client-cert-auth',
        '--bcrypt-cost', '4',
      ],
    });
  });

  after(async () => {
    for (const made of clients) made.close();
    await cluster?.stop();
    setGlobalDispatcher(previousDispatcher);
  });

  it('maps a verified client certificate to the user its CN names; a token wins', async () => {
    const admin = client('root');
    await admin.user('root').create(ROOT_PASSWORD);
    await admin.role('root').create();
    await admin.user('root').addRole('root');
    await admin.role('app').create();
    await admin.role('app').grant({ permission: 'Readwrite', range: admin.range({ prefix: '/alice/' }) });
    await admin.user('alice').create(ALICE_PASSWORD);
    await admin.user('alice').addRole('app');
    await admin.put('/other').value('o').exec();
    await admin.auth.authEnable();

    // No token: the CN=root certificate acts as root, CN=alice as alice, CN=mallory (no such user) as nobody.
    assert.equal(await admin.get('/other').string(), 'o');
    const alice = client('alice');
    await alice.put('/alice/x').value('1').exec();
    assert.equal(await alice.get('/alice/x').string(), '1');
    await assert.rejects(alice.get('/other').string(), EtcdPermissionDeniedError);
    await assert.rejects(alice.put('/other').value('2').exec(), EtcdPermissionDeniedError);
    await assert.rejects(alice.getRoles(), EtcdPermissionDeniedError);
    const mallory = client('mallory');
    await assert.rejects(mallory.get('/alice/x').string(), EtcdPermissionDeniedError);
    // A token wins over the certificate, both ways.
    const aliceAsRoot = client('alice', { username: 'root', password: ROOT_PASSWORD });
    assert.equal(await aliceAsRoot.get('/other').string(), 'o');
    const rootAsAlice = client('root', { username: 'alice', password: ALICE_PASSWORD });
    await assert.rejects(rootAsAlice.get('/other').string(), EtcdPermissionDeniedError);

    // The JSON gateway over HTTPS maps the certificate the same way.
    const { ca, cert, key } = credentialsOf('alice');
    const dispatcher = new Agent({ connect: { ca, cert, key } });
    try {
      const range = (key: string) =>
        fetch(`${cluster.members[0]!.clientUrl}/v3/kv/range`, { method: 'POST', body: JSON.stringify({ key: Buffer.from(key).toString('base64') }), dispatcher } as unknown as RequestInit);
      assert.equal((await range('/alice/x')).status, 200);
      const refused = await range('/other');
      assert.equal(refused.status, 403);
      assert.match(await refused.text(), /permission denied/);
    } finally {
      await dispatcher.close();
    }
  });

  it('cancels open watches when their user loses READ; unrelated auth changes leave them open', async () => {
    const admin = client('root');
    const alice = client('root', { username: 'alice', password: ALICE_PASSWORD });
    const seen: string[] = [];
    const errors: Error[] = [];
    const watch = async (prefix: string): Promise<Watcher> => {
      const watcher = await alice.watch().prefix(prefix).create();
      watcher.on('put', (kv) => seen.push(kv.key.toString()));
      watcher.on('error', (error: Error) => errors.push(error));
      return watcher;
    };
    await watch('/alice/w/');
    await admin.put('/alice/w/1').value('a').exec();
    await eventually(() => seen.includes('/alice/w/1'), 10_000, 'the first event');
    // An auth change that does not touch alice moves the auth revision: her stream still creates and serves watches.
    await admin.role('unrelated').create();
    await watch('/alice/v/');
    await admin.put('/alice/v/1').value('b').exec();
    await eventually(() => seen.includes('/alice/v/1'), 10_000, 'an event after an unrelated auth change');

    await admin.user('alice').removeRole('app');
    await eventually(() => errors.length === 2, 10_000, 'both watches canceled');
    for (const error of errors) assert.match(error.message, /permission denied/);
    await admin.put('/alice/w/2').value('c').exec();
    await admin.put('/alice/v/2').value('d').exec();
    // A fresh watch by root sees the puts, so they committed; alice's canceled watches never saw them.
    const rootWatch = await admin.watch().prefix('/alice/').startRevision('1').create();
    const rootSeen: string[] = [];
    rootWatch.on('put', (kv) => rootSeen.push(kv.key.toString()));
    await withTimeout(eventually(() => rootSeen.includes('/alice/v/2'), 10_000, 'root sees the later puts'), 15_000, 'root watch');
    assert.ok(!seen.includes('/alice/w/2') && !seen.includes('/alice/v/2'), `alice saw ${seen.join(',')}`);
    await rootWatch.cancel();
    await admin.user('alice').addRole('app');
  });
});
