import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KeelClient, KeelClientError, WatchCompactedError, type WatchBatch, type Watch } from '../../src/client/index.js';
import { call, type Cluster, eventually } from '../node/cluster-harness.js';
import { useClusterAndClient } from './cluster-client.js';

// client.watch() against 3 real keel members: a watch that survives a
// SIGKILL of the member it streams from (every acknowledged put seen once,
// in order), and a compacted watch surfacing as a typed error. The client
// is given `host:port` endpoints, as etcd's clients take them.
let cluster: Cluster;
let client: KeelClient;

useClusterAndClient(
  (started, made) => {
    cluster = started;
    client = made;
  },
  (started) => started.members.map((m) => `127.0.0.1:${m.clientPort}`),
);

interface Seen {
  readonly key: string;
  readonly revision: number;
  readonly type: string;
}

/** Reads `watch` in the background into `seen`; resolves with the error that ended it, if any. */
function collect(watch: Watch, seen: Seen[]): Promise<unknown> {
  return (async () => {
    try {
      for await (const batch of watch as AsyncIterable<WatchBatch>) {
        for (const event of batch.events) seen.push({ key: event.kv.key.toString(), revision: event.kv.modRevision, type: event.type });
      }
      return undefined;
    } catch (error) {
      return error;
    }
  })();
}

/** `promise`, or a failure naming `what` after `ms` (calling `giveUp` first, so nothing is left running). */
async function boundedBy<T>(promise: Promise<T>, ms: number, what: string, giveUp: () => Promise<void>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      void giveUp().finally(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)));
    }, ms);
  });
  try {
    return await Promise.race([promise, timedOut]);
  } finally {
    clearTimeout(timer);
  }
}

test('host:port endpoints are taken as http and garbage is a ConfigError', async () => {
  assert.deepEqual(client.endpoints, cluster.members.map((m) => m.clientUrl));
  assert.equal((await client.status()).header.clusterId !== '0', true);
  assert.throws(() => new KeelClient({ endpoints: ['127.0.0.1'] }), (error: unknown) => KeelClientError.is(error) && error.code === 'KEEL_CLIENT_CONFIG_INVALID');
});

/**
 * Writes `count` puts under `prefix` while a watch reads them, calls `fault`
 * with the member the watch streams from before put number `faultAt`, and
 * checks that the watch saw every acknowledged put exactly once, in order,
 * and nothing else but puts whose outcome is unknown.
 */
async function watchThroughFault(prefix: string, options: { keepAliveMs?: number; keepAliveTimeoutMs?: number }, fault: (memberId: string) => Promise<void>): Promise<Watch> {
  const watch = client.watch(prefix, { prefix: true, ...options });
  const seen: Seen[] = [];
  const ended = collect(watch, seen);
  await eventually(() => watch.nextRevision > 0, 30_000, 'the watch to be created');
  const acknowledged = new Map<string, number>(); // key -> revision of its put
  const unknown = new Set<string>(); // puts whose outcome is unknown (may have applied)
  for (let i = 0; i < 240; i++) {
    if (i === 80) {
      const member = cluster.members.find((m) => m.clientUrl === watch.endpoint);
      assert.ok(member, `the watch streams from a member (${watch.endpoint})`);
      await fault(member.id);
    }
    const key = `${prefix}${String(i).padStart(4, '0')}`;
    try {
      acknowledged.set(key, (await client.put(key, `v${i}`)).header.revision);
    } catch (error) {
      assert.ok(KeelClientError.is(error), String(error));
      if (error.mayHaveApplied) unknown.add(key);
    }
  }
  assert.ok(acknowledged.size >= 200, `${acknowledged.size} of 240 puts acknowledged around one member failure`);
  const lastRevision = Math.max(...acknowledged.values());
  await eventually(() => seen.some((event) => event.revision >= lastRevision), 60_000, 'the watch to reach the last acknowledged put');
  await watch.close();
  assert.equal(await ended, undefined, 'the watch ended without an error');

  assert.ok(watch.reconnects >= 1, 'the watch resumed on another member');
  for (let i = 1; i < seen.length; i++) assert.ok(seen[i - 1]!.revision < seen[i]!.revision, `revision ${seen[i]!.revision} after ${seen[i - 1]!.revision}`);
  const byKey = new Map(seen.map((event) => [event.key, event]));
  assert.equal(byKey.size, seen.length, 'no key seen twice (each was put once)');
  for (const [key, revision] of acknowledged) assert.equal(byKey.get(key)?.revision, revision, `acknowledged ${key}@${revision} seen once`);
  for (const event of seen) assert.ok(acknowledged.has(event.key) || unknown.has(event.key), `${event.key} seen but never written`);
  return watch;
}

test('a watch survives a SIGKILL of its member: every acknowledged put once, in order', async () => {
  let victim: string | undefined;
  await watchThroughFault('resume/', {}, async (id) => {
    victim = id;
    await cluster.kill(id, 'SIGKILL');
  });
  cluster.launch(victim!);
  await cluster.waitReady();
});

test('a watch leaves a hung member (SIGSTOP: the socket stays open) once a keep-alive probe goes unanswered', async () => {
  let stopped: string | undefined;
  try {
    await watchThroughFault('hung/', { keepAliveMs: 1_000, keepAliveTimeoutMs: 1_000 }, async (id) => {
      stopped = id;
      cluster.member(id).child!.kill('SIGSTOP');
    });
  } finally {
    if (stopped !== undefined) cluster.member(stopped).child?.kill('SIGCONT');
  }
  await cluster.waitReady();
});

test('a watch whose start revision was compacted fails with WatchCompactedError and the compact revision', async () => {
  for (let i = 0; i < 5; i++) await client.put('compacted/k', `v${i}`);
  const revision = (await client.put('compacted/k', 'last')).header.revision;
  const compactedOn = cluster.members[0]!;
  await call(compactedOn.clientUrl, '/v3/kv/compaction', { revision: String(revision), physical: true });
  // Watch through the member that answered the compaction, so it has applied it: a member still catching up (on a
  // loaded machine, the one the previous test stopped) would rightly serve the old revisions, and the watch would
  // stream them instead of failing (a CI run hung here until the file's timeout).
  const compactedClient = new KeelClient({ endpoints: [compactedOn.clientUrl], timeoutMs: 5_000 });
  const watch = compactedClient.watch('compacted/', { prefix: true, startRevision: revision - 3 });
  const error = await boundedBy(collect(watch, []), 30_000, 'the compacted watch to fail', () => watch.close());
  await compactedClient.close();
  assert.ok(error instanceof WatchCompactedError, String(error));
  assert.equal(error.code, 'KEEL_CLIENT_WATCH_COMPACTED');
  assert.equal(error.compactRevision, revision);
  // From the compact revision on, the same watch works.
  const fresh = client.watch('compacted/', { prefix: true, startRevision: revision });
  const seen: Seen[] = [];
  const ended = collect(fresh, seen);
  await eventually(() => seen.length >= 1, 30_000, 'the event at the compact revision');
  assert.deepEqual(seen[0], { key: 'compacted/k', revision, type: 'PUT' });
  await fresh.close();
  assert.equal(await ended, undefined);
});
