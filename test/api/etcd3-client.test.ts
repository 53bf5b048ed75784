import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Etcd3, EtcdAuthenticationFailedError, EtcdLockFailedError, EtcdPermissionDeniedError, EtcdRoleNotGrantedError, EtcdUserNotFoundError } from 'etcd3';
import { Agent, getGlobalDispatcher, setGlobalDispatcher } from 'undici';
import type { Dispatcher } from 'undici';
import { writeLocalPki } from '../../src/cli/local-pki.js';
import type { Campaign, ElectionObserver, IKeyValue } from 'etcd3';
import { Cluster, eventually, sleep } from '../node/cluster-harness.js';

/**
 * The npm `etcd3` client (nobody here wrote it) against a 3-member keel
 * cluster of real processes: KV, txns, watches across a leader kill, leases
 * that expire and leases kept alive, a contended lock and an election whose
 * raft leader is killed. Needs `npm run build`. Every wait is bounded.
 */

/** A put retried on a failure (a leader kill makes some fail); returns the revision it committed at, or undefined if every try failed. */
async function putRetrying(client: Etcd3, key: string, value: string, tries = 20): Promise<number | undefined> {
  for (let attempt = 0; attempt < tries; attempt++) {
    try {
      const response = await client.put(key).value(value).exec();
      return Number(response.header.revision);
    } catch {
      await sleep(100);
    }
  }
  return undefined;
}

/**
 * The campaigners' lease TTL: long enough that the etcd3 client's
 * keep-alives survive its reconnection to another member after the
 * raft-leader kill on a loaded 2-core machine.
 */
const CAMPAIGN_TTL_SECONDS = 5;
/** Campaigns b may start again after a client-side failure (bounded). */
const CAMPAIGN_RESTARTS_MAX = 10;

describe('the npm etcd3 client against keel (3 members)', () => {
  let cluster: Cluster;
  let hosts: string[];
  const clients: Etcd3[] = [];
  const newClient = (): Etcd3 => {
    const client = new Etcd3({ hosts, dialTimeout: 2_000 });
    clients.push(client);
    return client;
  };

  before(async () => {
    cluster = await Cluster.start({ nodes: 3 });
    hosts = cluster.members.map((m) => `127.0.0.1:${m.clientPort}`);
  });
  after(async () => {
    for (const client of clients) client.close();
    await cluster?.stop();
  });

  /** Kills the raft leader with SIGKILL and starts it again; resolves once it is back and the cluster is ready. */
  async function killLeaderAndRestart(between: () => Promise<void>): Promise<void> {
    const leader = await cluster.leader();
    await cluster.kill(leader.id, 'SIGKILL');
    await between();
    cluster.launch(leader.id);
    await cluster.waitReady();
  }

  it('puts, gets, deletes and reads prefixes', async () => {
    const client = newClient();
    await client.put('kv/a').value('1');
    await client.put('kv/b').value('2');
    await client.put('kv2').value('3');
    assert.equal(await client.get('kv/a').string(), '1');
    assert.deepEqual(await client.getAll().prefix('kv/').strings(), { 'kv/a': '1', 'kv/b': '2' });
    assert.deepEqual(await client.getAll().prefix('kv/').keys(), ['kv/a', 'kv/b']);
    const deleted = await client.delete().prefix('kv/').exec();
    assert.equal(deleted.deleted, '2');
    assert.equal(await client.get('kv/a').string(), null);
    assert.equal(await client.get('kv2').string(), '3');
  });

  it('runs transactions', async () => {
    const client = newClient();
    await client.put('tx').value('a');
    const won = await client.if('tx', 'Value', '==', 'a').then(client.put('tx').value('b')).else(client.get('tx')).commit();
    assert.equal(won.succeeded, true);
    const lost = await client.if('tx', 'Value', '==', 'a').then(client.put('tx').value('c')).else(client.get('tx')).commit();
    assert.equal(lost.succeeded, false);
    assert.equal(lost.responses[0]?.response_range?.kvs[0]?.value.toString(), 'b');
    const created = await client.if('tx-new', 'Create', '==', 0).then(client.put('tx-new').value('1')).commit();
    assert.equal(created.succeeded, true);
  });

  it('a watch sees every acknowledged write exactly once, in order, across a leader kill', async () => {
    const writer = newClient();
    const watching = newClient();
    const seen: number[] = [];
    const watcher = await watching.watch().prefix('w/').create();
    watcher.on('put', (kv: IKeyValue) => seen.push(Number(kv.mod_revision)));
    const acknowledged: number[] = [];
    const writeSome = async (from: number, count: number): Promise<void> => {
      for (let i = from; i < from + count; i++) {
        const revision = await putRetrying(writer, `w/${i % 7}`, `v${i}`);
        if (revision !== undefined) acknowledged.push(revision);
      }
    };
    await writeSome(0, 40);
    await killLeaderAndRestart(() => writeSome(40, 40));
    await writeSome(80, 40);
    await eventually(() => acknowledged.every((revision) => seen.includes(revision)), 30_000, 'the watcher to see every acknowledged put');
    for (let i = 1; i < seen.length; i++) assert.ok(seen[i]! > seen[i - 1]!, `revisions went ${seen[i - 1]} then ${seen[i]}: duplicated or back in time`);
    assert.ok(acknowledged.length >= 100, `only ${acknowledged.length} of 120 puts were acknowledged`);
    await watcher.cancel();
  });

  it('a lease without keep-alives expires and takes its keys; one kept alive outlives its TTL; a revoke deletes at once', async () => {
    const client = newClient();
    const dying = client.lease(2, { autoKeepAlive: false });
    await dying.put('lease/dying').value('x');
    const kept = client.lease(2);
    await kept.put('lease/kept').value('y');
    const keptId = await kept.grant();
    const live = await client.leaseClient.leaseTimeToLive({ ID: keptId, keys: true });
    // Whole seconds left, truncated as etcd does: 0 is a live lease with under a second to go (an expired one reads -1).
    assert.ok(Number(live.TTL) >= 0 && Number(live.TTL) <= 2, `TTL ${live.TTL}`);
    assert.equal(live.grantedTTL, '2');
    assert.deepEqual(live.keys.map((key) => key.toString()), ['lease/kept']);
    await eventually(async () => (await client.get('lease/dying').string()) === null, 15_000, 'the unrenewed lease to expire');
    // The kept lease is older than its TTL by now, and renewed.
    assert.equal(await client.get('lease/kept').string(), 'y');
    await kept.revoke();
    assert.equal(await client.get('lease/kept').string(), null);
    // TimeToLive of a revoked lease answers TTL -1 (etcd does not fail the call).
    assert.equal((await client.leaseClient.leaseTimeToLive({ ID: keptId })).TTL, '-1');
    const listed = await client.leaseClient.leaseLeases({});
    assert.ok(!listed.leases.some((lease) => lease.ID === keptId));
  });

  it('a lock contended by several clients admits one holder at a time', async () => {
    const contenders = [newClient(), newClient(), newClient(), newClient()];
    let inside = 0;
    let overlaps = 0;
    let done = 0;
    const rounds = 4;
    await Promise.all(
      contenders.map(async (client) => {
        for (let round = 0; round < rounds; round++) {
          for (let attempt = 0; attempt < 400; attempt++) {
            try {
              await client.lock('the-lock').ttl(5).do(async () => {
                inside++;
                if (inside > 1) overlaps++;
                await sleep(10);
                inside--;
                done++;
              });
              break;
            } catch (error) {
              if (!(error instanceof EtcdLockFailedError)) throw error;
              await sleep(5 + Math.floor(Math.random() * 20));
            }
          }
        }
      }),
    );
    assert.equal(overlaps, 0);
    assert.equal(done, contenders.length * rounds);
  });

  it('an election keeps one leader while the raft leader is killed, and hands over when the elected process dies', async () => {
    // The first campaigner runs in a child process so that its death is real (SIGKILL by pid).
    const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'fixtures/campaign.ts'), hosts.join(','), 'the-election', 'a', String(CAMPAIGN_TTL_SECONDS)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let b: Campaign | undefined;
    let observer: ElectionObserver | undefined;
    try {
      let output = '';
      child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
      await eventually(() => output.includes('elected'), 30_000, 'the child campaigner to be elected');
      const second = newClient();
      const observerClient = newClient();
      let secondElected = false;
      const secondErrors: string[] = [];
      // As etcd3's docs ask of its users: a campaign that fails (here, its
      // call to the member just killed got UNAVAILABLE) is started again.
      const runForB = (): void => {
        const campaign = second.election('the-election', CAMPAIGN_TTL_SECONDS).campaign('b');
        b = campaign;
        campaign.on('elected', () => {
          secondElected = true;
        });
        campaign.on('error', (error: unknown) => {
          secondErrors.push(String(error));
          // Its key may still be there: remove it, or it would stand in the queue ahead of the new campaign.
          void campaign.resign().catch(() => {});
          if (secondErrors.length < CAMPAIGN_RESTARTS_MAX) setTimeout(runForB, 200);
        });
      };
      runForB();
      observer = await observerClient.election('the-election').observe();
      assert.equal(observer.leader(), 'a');
      await killLeaderAndRestart(() => sleep(3_000));
      // a kept its lease alive across the raft leader change (the new leader extended every lease): b must not have won.
      assert.equal(secondElected, false);
      assert.equal(await observerClient.election('the-election').leader(), 'a');
      assert.ok(!output.includes('error'), output);
      child.kill('SIGKILL');
      await eventually(() => secondElected || secondErrors.length >= CAMPAIGN_RESTARTS_MAX, 30_000, 'b to be elected after a died');
      assert.equal(secondElected, true, `b's campaigns failed: ${secondErrors.join('; ')}`);
      await eventually(async () => (await observerClient.election('the-election').leader()) === 'b', 10_000, 'observers to see b');
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      // etcd3's close() leaves open streams running: end them here, or they keep this file's process alive.
      await observer?.cancel().catch(() => {});
      await b?.resign().catch(() => {});
    }
  });
});

/**
 * The etcd3 client's auth and role operations straight against a member
 * that serves TLS with client certificates (as `keel up --tls` runs them),
 * no terminator in between: what its own upstream suite does over TLS. The
 * client certificate's CN names no existing user, so once auth is on every
 * call that works goes through the client's `auth: {username, password}`
 * token.
 */
describe('the npm etcd3 client: users, roles and auth over TLS (1 member)', () => {
  let cluster: Cluster;
  let previousDispatcher: Dispatcher;
  let credentials: { rootCertificate: Buffer; certChain: Buffer; privateKey: Buffer };
  const clients: Etcd3[] = [];
  const connect = (auth?: { username: string; password: string }): Etcd3 => {
    const client = new Etcd3({ hosts: cluster.members[0]!.clientUrl, credentials, dialTimeout: 5_000, ...(auth ? { auth } : {}) });
    clients.push(client);
    return client;
  };

  before(async () => {
    const pki = writeLocalPki(join(process.env.TMPDIR ?? '/tmp', `keel-etcd3-tls-${process.pid}`), ['n'], 'etcd3-client');
    credentials = { rootCertificate: readFileSync(pki.caFile), certChain: readFileSync(pki.client.certFile), privateKey: readFileSync(pki.client.keyFile) };
    previousDispatcher = getGlobalDispatcher();
    setGlobalDispatcher(new Agent({ connect: { ca: credentials.rootCertificate, cert: credentials.certChain, key: credentials.privateKey } }));
    const member = pki.members.n!;
    cluster = await Cluster.start({
      nodes: 1,
      scheme: 'https',
      flags: ['--cert-file', member.certFile, '--key-file', member.keyFile, '--trusted-ca-file', pki.caFile, '--client-cert-auth', '--bcrypt-cost', '4'],
    });
  });
  after(async () => {
    for (const client of clients) client.close();
    await cluster?.stop();
    setGlobalDispatcher(previousDispatcher);
  });

  it('adds users and roles, grants and revokes, enables auth and works as each user', async () => {
    const setup = connect();
    await setup.user('root').create('root-pw');
    await setup.role('root').create();
    await setup.user('root').addRole('root');
    const reader = await setup.role('reader').create();
    await reader.grant({ permission: 'Read', range: setup.range({ prefix: 'shared/' }) });
    await reader.grant({ permission: 'Readwrite', key: 'shared/own' });
    await setup.user('carol').create('carol-pw');
    await setup.user('carol').addRole('reader');
    assert.deepEqual((await setup.getUsers()).map((u) => u.name).sort(), ['carol', 'root']);
    assert.deepEqual((await setup.getRoles()).map((r) => r.name).sort(), ['reader', 'root']);
    const permissions = await reader.permissions();
    assert.deepEqual(permissions.map((p) => p.permission).sort(), ['Read', 'Readwrite']);
    assert.deepEqual((await setup.user('carol').roles()).map((r) => r.name), ['reader']);
    await setup.put('shared/x').value('1').exec();
    await setup.auth.authEnable();

    const root = connect({ username: 'root', password: 'root-pw' });
    const carol = connect({ username: 'carol', password: 'carol-pw' });
    // Without a token the certificate's CN names the user, as in etcd: "etcd3-client" does not exist, so nothing is allowed.
    await assert.rejects(setup.get('shared/x').string(), EtcdPermissionDeniedError);
    assert.equal(await carol.get('shared/x').string(), '1');
    await carol.put('shared/own').value('mine').exec();
    await assert.rejects(carol.put('shared/x').value('2').exec(), EtcdPermissionDeniedError);
    await assert.rejects(carol.getUsers(), EtcdPermissionDeniedError);
    await assert.rejects(connect({ username: 'carol', password: 'wrong' }).get('shared/x').string(), EtcdAuthenticationFailedError);

    await root.role('reader').revoke({ permission: 'Read', range: root.range({ prefix: 'shared/' }) });
    await assert.rejects(carol.get('shared/x').string(), EtcdPermissionDeniedError);
    assert.equal(await carol.get('shared/own').string(), 'mine');
    await assert.rejects(root.user('carol').removeRole('writer'), EtcdRoleNotGrantedError);
    await root.user('carol').setPassword('carol-pw-2');
    assert.equal(await connect({ username: 'carol', password: 'carol-pw-2' }).get('shared/own').string(), 'mine');
    await root.user('carol').delete();
    await assert.rejects(root.user('carol').roles(), EtcdUserNotFoundError);
    await root.role('reader').delete();
    assert.deepEqual((await root.getRoles()).map((r) => r.name), ['root']);
    await root.auth.authDisable();
    assert.equal(await setup.get('shared/x').string(), '1');
  });
});
