import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Etcd3 } from 'etcd3';
import forge from 'node-forge';
import { Agent, getGlobalDispatcher, setGlobalDispatcher } from 'undici';
import type { Dispatcher } from 'undici';
import { EtcdCluster, findEtcdBinary, findEtcdctlBinary } from '../../bench/lib/etcd-cluster.js';
import { issueCertificate, writeLocalPki } from '../../src/cli/local-pki.js';
import type { IssuedFiles, LocalPki } from '../../src/cli/local-pki.js';
import { Cluster } from '../node/cluster-harness.js';

/**
 * etcd's auth through etcdctl 3.4, with client TLS on both sides: users,
 * roles, prefix and from-key permissions, auth enable, then allowed and
 * refused calls as a user, as root, with no user (only a client certificate
 * whose CN names nobody), with a wrong password, and as a user named by its
 * client certificate's CN (etcd's --client-cert-auth). Where etcd is
 * installed the same commands run against a one-member etcd 3.4 with the
 * same flags (--cert-file, --key-file, --trusted-ca-file, --client-cert-auth)
 * in the same order, and the transcripts must match line for line. Then
 * keel alone: a restart keeps users and roles (they live in the raft log and
 * snapshots), and the npm etcd3 client authenticates with
 * `auth: {username, password}` over TLS. One-member clusters keep the file
 * short (raft replication of the auth commands is the same code path as
 * every other command).
 */
const etcdctlPath = findEtcdctlBinary();
const etcdPath = findEtcdBinary();
if (!etcdctlPath) console.log('# etcdctl not installed: skipping the etcdctl auth suite');

interface Run {
  readonly out: string;
  readonly err: string;
  readonly status: number | null;
}

/** etcdctl's client logs JSON lines on stderr (retries); its own messages are kept. */
function ownLines(text: string): string {
  return text
    .split('\n')
    .filter((line) => line && !line.startsWith('{'))
    .join('\n');
}

/** The test's CA: member certificates, the default client certificate (CN anon, a name no user has) and alice's. */
let pki: LocalPki;
let aliceCert: IssuedFiles;

/** etcdctl over TLS; a script line starting with `@alice` presents alice's client certificate instead of anon's. */
function etcdctl(endpoints: string, args: readonly string[]): Run {
  const asAlice = args[0] === '@alice';
  const identity = asAlice ? aliceCert : pki.client;
  const tls = ['--cacert', pki.caFile, '--cert', identity.certFile, '--key', identity.keyFile];
  const run = spawnSync(etcdctlPath!, [`--endpoints=${endpoints}`, '--command-timeout=10s', ...tls, ...(asAlice ? args.slice(1) : args)], { env: { ...process.env, ETCDCTL_API: '3' }, encoding: 'utf8', timeout: 30_000 });
  return { out: run.stdout, err: ownLines(run.stderr), status: run.status };
}

const ROOT = ['--user', 'root:rootpw'];
const ALICE = ['--user', 'alice:alicepw'];

/** The scenario, one etcdctl call per line; both clusters get exactly these. */
const SCRIPT: readonly (readonly string[])[] = [
  ['auth', 'enable'], // refused: no root user yet
  ['user', 'add', 'root:rootpw', '--interactive=false'],
  ['role', 'add', 'app'],
  ['role', 'add', 'app'], // refused: exists
  ['role', 'grant-permission', 'app', '--prefix=true', 'readwrite', '/app/'],
  ['role', 'grant-permission', 'app', 'read', '/cfg'],
  ['role', 'grant-permission', 'app', 'write', '/zz/', '--from-key'],
  ['role', 'get', 'app'],
  ['user', 'add', 'alice:alicepw', '--interactive=false'],
  ['user', 'grant-role', 'alice', 'app'],
  ['user', 'grant-role', 'alice', 'nope'], // refused: no such role
  ['user', 'get', 'alice'],
  ['user', 'list'],
  ['role', 'list'],
  ['put', '/cfg', 'c0'],
  ['auth', 'enable'], // etcdctl answers "root user does not have root role" by adding the role and granting it, then enables
  [...ROOT, 'role', 'list'],
  [...ALICE, 'put', '/app/x', '1'],
  [...ALICE, 'get', '/app/', '--prefix'],
  [...ALICE, 'get', '/cfg'],
  [...ALICE, 'put', '/cfg', 'c1'], // refused: read only
  [...ALICE, 'put', '/other', '1'], // refused: outside the ranges
  [...ALICE, 'get', '/', '--prefix'], // refused: crosses forbidden keys
  [...ALICE, 'get', '', '--from-key'], // refused
  [...ALICE, 'put', '/zz/z', 'l'], // from-key write
  [...ALICE, 'get', '/zz/z'], // refused: write only
  [...ALICE, 'del', '/app/x'],
  ['@alice', 'put', '/app/cn', 'c'], // the client certificate's CN is the user, no password
  ['@alice', 'get', '/app/cn'],
  ['@alice', 'put', '/other', 'c'], // refused: alice's ranges still apply
  [...ALICE, 'user', 'list'], // refused: not root
  ['--user', 'alice:wrong', 'get', '/app/x'],
  ['--user', 'nobody:pw', 'get', '/app/x'],
  ['get', '/app/x'], // no user: the certificate's CN (anon) names nobody
  [...ROOT, 'get', '/', '--prefix'],
  [...ROOT, 'user', 'delete', 'root'], // refused while auth is on
  [...ROOT, 'role', 'revoke-permission', 'app', '/cfg'],
  [...ALICE, 'get', '/cfg'], // refused now
  [...ROOT, 'user', 'revoke-role', 'alice', 'app'],
  [...ALICE, 'get', '/app/x'], // refused: no roles
  [...ROOT, 'user', 'grant-role', 'alice', 'app'],
  [...ROOT, 'auth', 'disable'],
  ['get', '/cfg'],
  ['auth', 'enable'],
];

/** The transcript of a run: command, stdout, etcdctl's own stderr lines, exit status. */
function transcript(endpoint: string): string[] {
  return SCRIPT.map((args) => {
    const run = etcdctl(endpoint, args);
    return `$ ${args.join(' ')}\n${run.out.trimEnd()}\n${run.err}\n[${run.status}]`;
  });
}

describe('etcdctl auth, user and role against keel (and etcd 3.4), client TLS on', { skip: !etcdctlPath }, () => {
  let keel: Cluster;
  let etcd: EtcdCluster | undefined;
  let dir: string;
  let previousDispatcher: Dispatcher;
  const keelUrl = (): string => keel.members[0]!.clientUrl;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'keel-etcdctl-auth-'));
    pki = writeLocalPki(dir, ['n'], 'anon');
    const authority = { cert: forge.pki.certificateFromPem(readFileSync(pki.caFile, 'utf8')), key: forge.pki.privateKeyFromPem(readFileSync(join(dir, 'ca.key'), 'utf8')) as forge.pki.rsa.PrivateKey };
    const alice = issueCertificate(authority, 'alice', ['localhost']);
    aliceCert = { certFile: join(dir, 'alice.crt'), keyFile: join(dir, 'alice.key') };
    writeFileSync(aliceCert.certFile, alice.certPem);
    writeFileSync(aliceCert.keyFile, alice.keyPem, { mode: 0o600 });
    // fetch (the harnesses' readiness probes, the JSON gateway case) trusts the CA and presents CN anon.
    previousDispatcher = getGlobalDispatcher();
    setGlobalDispatcher(new Agent({ connect: { ca: readFileSync(pki.caFile), cert: readFileSync(pki.client.certFile), key: readFileSync(pki.client.keyFile) } }));
    const member = pki.members.n!;
    const keelTls = ['--cert-file', member.certFile, '--key-file', member.keyFile, '--trusted-ca-file', pki.caFile, '--client-cert-auth'];
    const [started, reference] = await Promise.allSettled([
      Cluster.start({ nodes: 1, scheme: 'https', flags: ['--bcrypt-cost', '4', ...keelTls] }),
      etcdPath ? EtcdCluster.start({ binary: etcdPath, size: 1, tls: { caFile: pki.caFile, memberFiles: () => member } }) : Promise.resolve(undefined),
    ]);
    if (started.status === 'fulfilled') keel = started.value;
    if (reference.status === 'fulfilled') etcd = reference.value;
    if (started.status === 'rejected' || reference.status === 'rejected') {
      await Promise.all([keel?.stop(), etcd?.stop()]);
      throw started.status === 'rejected' ? started.reason : (reference as PromiseRejectedResult).reason;
    }
  });
  after(async () => {
    await Promise.all([keel?.stop(), etcd?.stop()]);
    setGlobalDispatcher(previousDispatcher);
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers the scenario as etcd does, line for line', () => {
    const endpoint = keelUrl();
    const ours = transcript(endpoint);
    const text = ours.join('\n');
    // What the scenario must show whether or not etcd is installed.
    assert.match(text, /\$ user add root:rootpw --interactive=false\nUser root created/);
    assert.match(text, /\$ auth enable\n\nError: etcdserver: root user does not exist/);
    assert.match(text, /\$ --user alice:alicepw put \/app\/x 1\nOK/);
    assert.match(text, /\$ --user alice:alicepw put \/other 1\n\nError: etcdserver: permission denied/);
    assert.match(text, /\$ --user alice:wrong get \/app\/x\n\n.*authentication failed, invalid user ID or password/);
    assert.match(text, /\$ get \/app\/x\n\nError: etcdserver: permission denied/);
    assert.match(text, /\$ @alice get \/app\/cn\n\/app\/cn\nc\n/);
    assert.match(text, /\$ @alice put \/other c\n\nError: etcdserver: permission denied/);
    // Compaction is root-only in keel, as in etcd 3.5 and later (etcd 3.4 lets any user compact; not compared).
    assert.match(etcdctl(endpoint, [...ALICE, 'compaction', '1']).err, /Error: etcdserver: permission denied/);
    if (!etcd) return;
    const theirs = transcript(etcd.endpoints[0]!);
    for (let index = 0; index < SCRIPT.length; index++) assert.equal(ours[index], theirs[index]);
  });

  it('keeps users, roles and permissions across a restart', async () => {
    const member = keel.members[0]!;
    await keel.kill(member.id, 'SIGKILL');
    keel.launch(member.id);
    await keel.waitReady();
    const endpoint = keelUrl();
    assert.equal(etcdctl(endpoint, [...ROOT, 'user', 'list']).out, 'alice\nroot\n');
    assert.equal(etcdctl(endpoint, [...ALICE, 'put', '/app/after', 'r']).out, 'OK\n');
    assert.match(etcdctl(endpoint, [...ALICE, 'put', '/other', 'r']).err, /permission denied/);
  });

  it('serves the npm etcd3 client with auth: {username, password}', async () => {
    const hosts = [keelUrl()];
    const credentials = { rootCertificate: readFileSync(pki.caFile), certChain: readFileSync(pki.client.certFile), privateKey: readFileSync(pki.client.keyFile) };
    const alice = new Etcd3({ hosts, credentials, auth: { username: 'alice', password: 'alicepw' }, dialTimeout: 2_000 });
    const stranger = new Etcd3({ hosts, credentials, auth: { username: 'alice', password: 'not-hers' }, dialTimeout: 2_000 });
    try {
      await alice.put('/app/client').value('v');
      assert.equal(await alice.get('/app/client').string(), 'v');
      await assert.rejects(alice.put('/other').value('v').exec(), /permission denied/);
      await assert.rejects(stranger.get('/app/client').string(), /authentication failed/);
    } finally {
      alice.close();
      stranger.close();
    }
  });

  it('the JSON gateway: /v3/auth/authenticate, the Authorization header, txn compares and watches checked', async () => {
    const base = keelUrl();
    const b64 = (text: string): string => Buffer.from(text).toString('base64');
    const post = async (path: string, body: unknown, token?: string): Promise<{ status: number; json: Record<string, unknown> }> => {
      const response = await fetch(`${base}${path}`, { method: 'POST', body: JSON.stringify(body), headers: token ? { authorization: token } : {} });
      return { status: response.status, json: (await response.json()) as Record<string, unknown> };
    };
    const wrong = await post('/v3/auth/authenticate', { name: 'alice', password: 'nope' });
    assert.equal(wrong.json.error, 'etcdserver: authentication failed, invalid user ID or password');
    const { json } = await post('/v3/auth/authenticate', { name: 'alice', password: 'alicepw' });
    const token = json.token as string;
    assert.ok(token.length > 0);
    assert.equal((await post('/v3/kv/put', { key: b64('/app/json'), value: b64('j') }, token)).status, 200);
    // No token: the client certificate's CN (anon) is the user, and no such user exists.
    assert.equal((await post('/v3/kv/range', { key: b64('/app/json') })).json.error, 'etcdserver: permission denied');
    const forged = await post('/v3/kv/range', { key: b64('/app/json') }, 'forged.1');
    assert.deepEqual([forged.status, forged.json.error, forged.json.code], [401, 'etcdserver: invalid auth token', 16]);
    // A txn whose compare reads a forbidden key is refused even though its ops are allowed.
    const txn = await post('/v3/kv/txn', { compare: [{ key: b64('/other'), target: 'VERSION', result: 'EQUAL', version: '0' }], success: [{ request_put: { key: b64('/app/t'), value: b64('t') } }] }, token);
    assert.deepEqual([txn.status, txn.json.error, txn.json.code], [403, 'etcdserver: permission denied', 7]);
    const nested = await post('/v3/kv/txn', { success: [{ request_txn: { success: [{ request_range: { key: b64('/other') } }] } }] }, token);
    assert.equal(nested.json.error, 'etcdserver: permission denied');
    assert.equal((await post('/v3/auth/user/list', {}, token)).json.error, 'etcdserver: permission denied');
    const role = await post('/v3/auth/role/get', { role: 'app' }, token);
    assert.deepEqual((role.json.perm as { key: string }[]).map((permission) => Buffer.from(permission.key, 'base64').toString()), ['/app/', '/zz/']);
    // A watch on a forbidden range is created and canceled at once, as etcd answers it.
    const controller = new AbortController();
    const watch = await fetch(`${base}/v3/watch`, { method: 'POST', body: `${JSON.stringify({ create_request: { key: b64('/'), range_end: b64('0') } })}\n`, headers: { authorization: token }, signal: controller.signal });
    const reader = watch.body!.getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    controller.abort();
    const result = (JSON.parse(first.split('\n')[0]!) as { result: Record<string, unknown> }).result;
    assert.equal(result.canceled, true);
    assert.equal(result.cancel_reason, 'etcdserver: permission denied');
  });
});
