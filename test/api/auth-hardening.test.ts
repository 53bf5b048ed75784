import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { connect as connectTls } from 'node:tls';
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
 * - Authenticate is limited per user and per client address: refused
 *   attempts answer "etcdserver: too many requests" and hash nothing;
 * - no password or token used appears in the member's log (at debug
 *   level), its /metrics, or any error message a client got.
 * - garbage, an oversize ClientHello and half-open handshakes on the client
 *   and peer ports end only their own connections: the member keeps serving.
 * `--bcrypt-cost 4` keeps hashing cheap (the cost is not what is tested).
 */

const ROOT_PASSWORD = 'root-Secret-4711';
const ALICE_PASSWORD = 'alice-Secret-0815';
const ALICE_NEW_PASSWORD = 'alice-Renewed-1999';
const WRONG_PASSWORD = 'guess-Wrong-2718';
/** Small budgets so the limits show within a few calls (defaults: 10 and 30 per minute). */
const FAILURES_PER_USER = 3;
const FAILURES_PER_ADDRESS = 8;

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
  /** Every error message and error body clients got, for the secrets check. */
  const answers: string[] = [];
  const tokens: string[] = [];
  const remember = async <T>(promise: Promise<T>): Promise<T> => {
    try {
      return await promise;
    } catch (error) {
      answers.push(String((error as Error).message), JSON.stringify(error));
      throw error;
    }
  };
  const metricValue = async (name: string, labels = ''): Promise<number> => {
    const text = await (await fetch(`${cluster.members[0]!.clientUrl}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `));
    return line === undefined ? 0 : Number(line.split(' ')[1]);
  };
  /** Authenticate over the JSON gateway (the global dispatcher presents CN=root): status and body. */
  const authenticateJson = async (name: string, password: string): Promise<{ status: number; body: string }> => {
    const response = await fetch(`${cluster.members[0]!.clientUrl}/v3/auth/authenticate`, { method: 'POST', body: JSON.stringify({ name, password }) });
    const body = await response.text();
    if (response.status !== 200) answers.push(body);
    return { status: response.status, body };
  };

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
        '--bcrypt-cost', '4', '--log-level', 'debug',
        '--auth-failed-attempts-per-user', String(FAILURES_PER_USER), '--auth-failed-attempts-per-address', String(FAILURES_PER_ADDRESS),
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
    // These grpc-js clients' connections went straight to grpc-js: the CN came from the call's own TLS socket, not a hop.
    assert.ok((await metricValue('keel_api_grpc_connections_total', '{path="direct"}')) >= 4);

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

  it('collects tokens and refusals for the secrets check: a token, a forged token, a changed password', async () => {
    const issued = await authenticateJson('alice', ALICE_PASSWORD);
    assert.equal(issued.status, 200, issued.body);
    const token = (JSON.parse(issued.body) as { token: string }).token;
    tokens.push(token);
    const range = (headers: Record<string, string>, key: string) =>
      fetch(`${cluster.members[0]!.clientUrl}/v3/kv/range`, { method: 'POST', headers, body: JSON.stringify({ key: Buffer.from(key).toString('base64') }) });
    const allowed = await range({ authorization: token }, '/alice/x');
    assert.equal(allowed.status, 200);
    const denied = await range({ authorization: token }, '/other');
    assert.equal(denied.status, 403);
    answers.push(await denied.text());
    const forged = `${token.slice(0, -4)}XXXX`;
    tokens.push(forged);
    const refused = await range({ authorization: forged }, '/alice/x');
    assert.equal(refused.status, 401);
    answers.push(await refused.text());
    const admin = client('root');
    await admin.user('alice').setPassword(ALICE_NEW_PASSWORD);
    // The old token went with the old password.
    const stale = await range({ authorization: token }, '/alice/x');
    assert.equal(stale.status, 401);
    answers.push(await stale.text());
    const wrong = await authenticateJson('root', WRONG_PASSWORD);
    assert.equal(wrong.status, 400);
    assert.match(wrong.body, /authentication failed/);
  });

  it('limits failed Authenticate attempts per user and per address; refused attempts hash nothing', async () => {
    const admin = client('root');
    // root failed once above; alice now fails until her budget is spent.
    for (let attempt = 0; attempt < FAILURES_PER_USER; attempt++) {
      const failed = await authenticateJson('alice', WRONG_PASSWORD);
      assert.equal(failed.status, 400, failed.body);
    }
    const checksBefore = await metricValue('keel_auth_password_checks_total');
    // Refused even with the right password, before any hashing; over gRPC, as etcd's RESOURCE_EXHAUSTED "too many requests".
    // (A fresh client: the etcd3 client's circuit breaker would count earlier failures of a shared one.)
    await assert.rejects(remember(client('root').auth.authenticate({ name: 'alice', password: ALICE_NEW_PASSWORD })), (error: Error) => {
      assert.match(error.message, /too many requests/);
      assert.equal(error.constructor.name, 'GRPCResourceExhastedError');
      return true;
    });
    assert.equal(await metricValue('keel_auth_password_checks_total'), checksBefore);
    assert.ok((await metricValue('keel_auth_authenticate_total', '{outcome="limited"}')) >= 1);
    // Another user is not held back by alice's budget; a success costs nothing.
    const ok = await authenticateJson('root', ROOT_PASSWORD);
    assert.equal(ok.status, 200, ok.body);
    tokens.push((JSON.parse(ok.body) as { token: string }).token);

    // Spread over many names, the address's budget runs out too (1 + FAILURES_PER_USER failures so far).
    let limited: { status: number; body: string } | undefined;
    for (let index = 0; index < FAILURES_PER_ADDRESS + 2 && !limited; index++) {
      const answer = await authenticateJson(`guess-${index}`, WRONG_PASSWORD);
      if (answer.status === 429) limited = answer;
      else assert.equal(answer.status, 400, answer.body);
    }
    assert.ok(limited, 'the address was never limited');
    assert.match(limited.body, /too many requests/);
    assert.match(limited.body, /KEEL_AUTH_RATE_LIMITED/);
    assert.match(limited.body, /from this address/);
    const checks = await metricValue('keel_auth_password_checks_total');
    const rootAgain = await authenticateJson('root', ROOT_PASSWORD);
    assert.equal(rootAgain.status, 429);
    assert.equal(await metricValue('keel_auth_password_checks_total'), checks);
    // Existing credentials keep working: the CN=root certificate still acts as root.
    assert.equal(await admin.get('/other').string(), 'o');
  });

  it('no password or token appears in the log, the metrics or any error message', async () => {
    const secrets = [ROOT_PASSWORD, ALICE_PASSWORD, ALICE_NEW_PASSWORD, WRONG_PASSWORD, ...tokens];
    assert.ok(tokens.length >= 3);
    const member = cluster.members[0]!;
    assert.ok(member.stderr.length > 0, 'the member logged nothing at debug level');
    const metrics = await (await fetch(`${member.clientUrl}/metrics`)).text();
    assert.ok(answers.length >= 8, `only ${answers.length} answers collected`);
    for (const [where, text] of [['the member log', member.stderr], ['/metrics', metrics], ['error answers', answers.join('\n')]] as const) {
      for (const secret of secrets) assert.ok(!text.includes(secret), `${where} holds a secret (${secret.slice(0, 3)}...)`);
    }
    // Nor the bcrypt hashes of the passwords.
    assert.ok(!/\$2[aby]\$/.test(member.stderr + metrics + answers.join('\n')), 'a bcrypt hash leaked');
  });

  it('survives garbage, an oversize ClientHello and half-open handshakes on the client and peer ports', async () => {
    const member = cluster.members[0]!;
    /** Connects to `port`, lets `act` misbehave, and resolves once the member closed the connection. */
    const hostile = (port: number, what: string, act: (socket: Socket) => void): Promise<void> =>
      withTimeout(
        new Promise<void>((resolve) => {
          const socket = connect({ host: '127.0.0.1', port });
          socket.on('connect', () => act(socket));
          socket.on('error', () => {}); // a reset while we still write is the member closing
          socket.resume(); // read the member's alert, so its end of the connection is seen
          socket.on('close', () => resolve());
        }),
        20_000,
        `the member closing ${what} on port ${port}`,
      );
    /** A TLS handshake record announcing a ClientHello of 16 MiB, followed by 1 MiB of records (stops once the member hangs up). */
    const oversizeHello = (socket: Socket): void => {
      const header = Buffer.from([0x16, 0x03, 0x01, 0x40, 0x00, 0x01, 0xff, 0xff, 0xff, 0x03, 0x03]);
      socket.write(Buffer.concat([header, Buffer.alloc(0x4000 - 6)]));
      for (let record = 0; record < 64 && socket.writable; record++) socket.write(Buffer.concat([Buffer.from([0x16, 0x03, 0x03, 0x40, 0x00]), randomBytes(0x4000)]));
    };
    const halfOpen: Socket[] = [];
    try {
      for (const port of [member.clientPort, member.peerPort]) {
        await hostile(port, 'garbage', (socket) => socket.write(randomBytes(64 * 1024)));
        // A whole record holding a ClientHello of 252 random bytes: malformed, refused at once.
        await hostile(port, 'a garbage ClientHello', (socket) => socket.write(Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0x01, 0x00, 0x01, 0x00, 0x00, 0xfc]), randomBytes(0xfc)])));
        await hostile(port, 'an oversize ClientHello', oversizeHello);
        await hostile(port, 'a handshake cut short', (socket) => socket.end(Buffer.from([0x16, 0x03, 0x01, 0x02])));
        // Half-open handshakes left hanging: they must not keep the port from serving others meanwhile.
        for (let index = 0; index < 20; index++) {
          const socket = connect({ host: '127.0.0.1', port }, () => socket.write(Buffer.from([0x16, 0x03, 0x01])));
          socket.on('error', () => {});
          halfOpen.push(socket);
        }
      }
      assert.equal(member.exit, undefined, `the member exited: ${member.stderr.slice(-2000)}`);
      // Still serving clients over TLS (the CN=root certificate acts as root) ...
      const admin = client('root');
      await admin.put('/after-abuse').value('alive').exec();
      assert.equal(await admin.get('/after-abuse').string(), 'alive');
      // ... and still completing peer handshakes with a member certificate.
      const peerCertificate = await withTimeout(
        new Promise<string>((resolve, reject) => {
          const files = pki.members.n!;
          const socket = connectTls({ host: '127.0.0.1', port: member.peerPort, ca: readFileSync(pki.caFile), cert: readFileSync(files.certFile), key: readFileSync(files.keyFile), servername: 'localhost' }, () => {
            resolve(socket.getPeerX509Certificate()!.subject);
            socket.destroy();
          });
          socket.on('error', reject);
        }),
        10_000,
        'a peer handshake after the abuse',
      );
      assert.match(peerCertificate, /CN=n/);
    } finally {
      for (const socket of halfOpen) socket.destroy();
    }
    assert.equal(member.exit, undefined);
  });
});
