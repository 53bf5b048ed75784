import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { b64, call, Cluster, dump, eventually } from './cluster-harness.js';

// System test: real `keel node` processes with --log-cache-bytes 0, so every
// applied entry's data leaves the members' memory at once. A follower that
// was stopped (SIGSTOP) while the others went on writing catches up on
// entries its leader reads back from its WAL segments (Wal.readEntry), and
// holds what was written, byte for byte.

// More puts than the leader keeps in flight to one follower (maxInflightMessages, 256): the rest wait in the log until the follower answers.
const PUTS = 400;
const VALUE_BYTES = 1_000;

function valueOf(i: number): string {
  return `${String(i).padStart(5, '0')}:`.padEnd(VALUE_BYTES, String.fromCharCode(97 + (i % 26)));
}

async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${name} `));
  return line === undefined ? Number.NaN : Number(line.slice(name.length + 1));
}

describe('a log that holds no applied entry in memory', () => {
  let cluster: Cluster;
  before(async () => {
    cluster = await Cluster.start({ nodes: 3, flags: ['--log-cache-bytes', '0'] });
  });
  after(async () => {
    await cluster?.stop();
  });

  test('a follower stopped while others write catches up from entries its leader reads back from the WAL', async () => {
    const leader = await cluster.leader();
    const follower = cluster.members.find((member) => member.child && member.id !== leader.id)!;
    follower.child!.kill('SIGSTOP');
    try {
      for (let i = 0; i < PUTS; i++) {
        // One attempt each, through the leader: a put that timed out may have applied, so it is not sent again (the check below reads what the leader holds).
        await call(leader.clientUrl, '/v3/kv/put', { key: b64(`read-back/${String(i).padStart(5, '0')}`), value: b64(valueOf(i)) }, 30_000);
      }
    } finally {
      follower.child?.kill('SIGCONT');
    }
    const expected = await dump(leader.clientUrl, 'read-back/');
    assert.equal(expected.size, PUTS);
    for (const [key, { value }] of expected) assert.equal(value, valueOf(Number(key.slice('read-back/'.length))), `${key} on the leader`);
    await eventually(async () => (await dump(follower.clientUrl, 'read-back/')).size === PUTS, 60_000, 'the follower caught up');
    const caughtUp = await dump(follower.clientUrl, 'read-back/');
    assert.deepEqual([...caughtUp], [...expected], 'the follower holds what the leader holds, byte for byte');
    const readBack = await metric(leader.clientUrl, 'keel_raft_log_entries_read_back_total');
    assert.ok(readBack >= PUTS - 256, `the leader read the entries it had not sent back from its WAL (${readBack})`);
    // Nothing applied stays held: at most the entries appended and not yet applied, none here.
    await eventually(async () => (await metric(leader.clientUrl, 'keel_raft_log_held_bytes')) < VALUE_BYTES * 4, 10_000, 'the leader holds no applied entry');
    // Writes go on as before.
    const answer = await call(leader.clientUrl, '/v3/kv/put', { key: b64('read-back/after'), value: b64('x') }, 30_000);
    assert.ok(Number((answer.header as { revision: string }).revision) > PUTS);
  });
});
