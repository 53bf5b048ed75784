import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { FAILPOINT_NAMES } from '../../src/storage/failpoints.js';
import { parseSegmentFileName } from '../../src/storage/wal-format.js';
import { Cluster, call, dump, sleep } from './cluster-harness.js';
import { Writer } from './load.js';

// Crash a member at each named failpoint (every persist and apply boundary)
// under load, restart it, and check what etcd's worst bugs broke: no
// acknowledged write lost, no entry applied twice or skipped, the revision
// never going backwards, and every member ending with the same key-value
// state (HashKV at the same revision).
//
// Snapshots every 30 entries and 64 KiB WAL segments make snapshot,
// compaction and rotation boundaries come up within seconds.
const FLAGS = ['--snapshot-entries', '30', '--snapshot-log-ratio', '0', '--snapshot-catch-up-entries', '5', '--wal-segment-bytes', '65536'];
/** Failpoints that fire only while a member installs a snapshot sent by the leader. */
const INSTALL = new Set(['snapshot-before-install', 'snapshot-after-install']);

test(`a member crashed at each of the ${FAILPOINT_NAMES.length} failpoints under load recovers with nothing lost, repeated or skipped`, { timeout: 600_000 }, async () => {
  const cluster = await Cluster.start({ nodes: 3, flags: FLAGS });
  const writer = new Writer(() => cluster.members.filter((m) => m.child).map((m) => m.clientUrl), 'fp/', 100_000, 400_000);
  try {
    writer.start();
    const crashed: string[] = [];
    for (const [i, name] of FAILPOINT_NAMES.entries()) {
      const leader = await cluster.leader();
      // Alternate between a follower and the leader, so both sides of replication crash.
      const victim = INSTALL.has(name) || i % 2 === 0 ? cluster.members.find((m) => m.id !== leader.id && m.child)! : leader;
      const revisionBefore = await revisionOf(victim.clientUrl);
      await cluster.kill(victim.id, 'SIGKILL');
      if (INSTALL.has(name)) {
        // While it is down the others write and compact past its log, so it needs a snapshot.
        const target = writer.acknowledged.size + 80;
        while (writer.acknowledged.size < target) await sleep(20);
      }
      cluster.launch(victim.id, { KEEL_FAILPOINTS: `${name}=crash@${INSTALL.has(name) ? 1 : 2}` });
      const exit = await cluster.exited(victim.id, 60_000);
      assert.equal(exit?.signal, 'SIGKILL', `${victim.id} should have crashed at ${name}: ${victim.stderr.slice(-500)}`);
      crashed.push(`${name}@${victim.id}`);
      cluster.launch(victim.id);
      await cluster.waitReady(30_000);
      // The member's newest commit-only hard state may have been held in memory (Wal.appendAsync) when it was
      // killed, so it restarts knowing an older commit index and serves a serializable read from a few entries
      // back until the leader's next message tells it more. Its entries are on disk: a revision that stays below
      // is lost data, one that comes back is not. So wait, bounded, for it to come back.
      const revisionAfter = await revisionReaching(victim.clientUrl, revisionBefore, REVISION_CATCH_UP_MS);
      assert.ok(revisionAfter >= revisionBefore, `${name}: the revision went back from ${revisionBefore} to ${revisionAfter} on ${victim.id} and stayed there for ${REVISION_CATCH_UP_MS} ms`);
    }
    assert.equal(crashed.length, FAILPOINT_NAMES.length);
    await writer.stop();
    assert.ok(writer.acknowledged.size > 200, `too little load: ${writer.acknowledged.size} writes`);
    await cluster.waitReady(30_000);
    await convergedHashes(cluster);
    // The log behind the snapshots was released (off the loop, FileStorage.releaseToAsync): the segment
    // that began at index 1 is gone. Every member rotated twice at least (the rotation failpoints crash at their second hit).
    for (const member of cluster.members) {
      const segments = readdirSync(join(member.dataDir, 'raft', 'wal')).flatMap((name) => parseSegmentFileName(name) ?? []);
      const oldest = Math.min(...segments.map((segment) => segment.firstIndex));
      assert.ok(oldest > 1, `${member.id} still holds the log from index ${oldest} in ${segments.length} segments`);
    }
    for (const member of cluster.members) {
      const state = await dump(member.clientUrl, 'fp/');
      for (const [key, value] of writer.acknowledged) assert.equal(state.get(key)?.value, value, `${key} lost at ${member.id}`);
      for (const [key, { version }] of state) {
        assert.equal(version, 1, `${key} applied twice at ${member.id}`);
        assert.ok(writer.acknowledged.has(key) || writer.unknown.has(key), `${key} appeared at ${member.id} without being written`);
      }
    }
  } finally {
    await writer.stop();
    await cluster.stop();
  }
});

/** How long a restarted member may take to learn the commit index it knew before its crash. */
const REVISION_CATCH_UP_MS = 15_000;

/** The member's revision once it reaches `target`, or the last one read when `waitMs` ran out. */
async function revisionReaching(url: string, target: number, waitMs: number): Promise<number> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const revision = await revisionOf(url);
    if (revision >= target || Date.now() >= deadline) return revision;
    await sleep(50);
  }
}

/** A member's own view (serializable): the revision it has applied. */
async function revisionOf(url: string): Promise<number> {
  const response = await call(url, '/v3/kv/range', { key: Buffer.from('fp/').toString('base64'), serializable: true, count_only: true });
  return Number((response.header as { revision: string }).revision);
}

/** Every member reaches the same revision with the same HashKV. */
async function convergedHashes(cluster: Cluster): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const hashes = await Promise.all(
      cluster.members.map(async (m) => {
        const response = await call(m.clientUrl, '/v3/maintenance/hashkv', {});
        return `${(response.header as { revision: string }).revision}:${response.hash as string}`;
      }),
    );
    if (new Set(hashes).size === 1) return;
    if (Date.now() > deadline) assert.fail(`members disagree: ${hashes.join(' ')}`);
    await sleep(100);
  }
}
