import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LostWrites } from '../../src/node/lost-writes.js';
import type { LostWriteNote } from '../../src/node/lost-writes.js';
import { LeaderElection } from '../../src/raft/types.js';

// LostWrites on a fake clock: which writes in flight at a leader change fail
// as lost, and when the member's re-check timer is due. No real time passes.

const GRACE_MS = 300;

class Fixture {
  nowMs = 0;
  heldForwardedTerm = 0;
  readonly pending = new Map<string, LostWriteNote>();
  readonly lost: string[] = [];
  readonly writes = new LostWrites<LostWriteNote>({
    notes: () => this.pending.entries(),
    now: () => this.nowMs,
    graceMs: () => GRACE_MS,
    lost: (id) => {
      this.lost.push(id);
      this.#remove(id);
    },
    heldForwardedTerm: () => this.heldForwardedTerm,
  });

  /** A write starts waiting for its entry. */
  write(id: string): void {
    this.pending.set(id, {});
  }

  /** Its entry applied (or it timed out): it leaves the registry, as Wait's onRemove reports. */
  answered(id: string): void {
    this.#remove(id);
  }

  #remove(id: string): void {
    const note = this.pending.get(id);
    assert.ok(note, `${id} is waiting`);
    this.pending.delete(id);
    this.writes.removed(note);
  }
}

/** A member following the leader of term 1, which it saw win an election; one write in flight through it. */
function following(): Fixture {
  const fixture = new Fixture();
  fixture.writes.leaderChanged(1, LeaderElection.Election);
  fixture.writes.applied(1);
  fixture.write('w1');
  return fixture;
}

test('the leader crashed and another won an election: a write in flight fails once the new term\'s first entry applies, with no grace', () => {
  const fixture = following();
  fixture.writes.leaderChanged(2, LeaderElection.Unknown); // the old leader is gone, no new one yet
  fixture.nowMs += 450;
  fixture.writes.leaderChanged(2, LeaderElection.Election);
  assert.equal(fixture.writes.atRisk, 1);
  assert.equal(fixture.writes.applied(2), undefined, 'no re-check is needed');
  assert.deepEqual(fixture.lost, ['w1']);
  assert.equal(fixture.writes.atRisk, 0);
});

test('entries of the old term still apply: a marked write waits for them (they may be its own)', () => {
  const fixture = following();
  fixture.writes.leaderChanged(2, LeaderElection.Election);
  fixture.writes.applied(1);
  fixture.nowMs += GRACE_MS;
  fixture.writes.recheck();
  assert.deepEqual(fixture.lost, [], 'not failed, however long term 1 takes');
  fixture.answered('w1'); // its entry was among them
  assert.equal(fixture.writes.atRisk, 0);
  assert.equal(fixture.writes.applied(2), undefined);
  assert.deepEqual(fixture.lost, []);
});

test('a leader transfer: a write in flight gets the grace, as the old leader may have held it for the new one', () => {
  const fixture = following();
  fixture.writes.leaderChanged(2, LeaderElection.Transfer);
  assert.equal(fixture.writes.applied(2), GRACE_MS, 're-check when the grace ends');
  assert.deepEqual(fixture.lost, []);
  fixture.nowMs += GRACE_MS - 1;
  assert.equal(fixture.writes.recheck(), 1);
  assert.deepEqual(fixture.lost, []);
  fixture.nowMs += 1;
  assert.equal(fixture.writes.recheck(), undefined);
  assert.deepEqual(fixture.lost, ['w1'], 'it did not land within the grace: lost');
});

test('a held write that lands within the grace is answered, not failed', () => {
  const fixture = following();
  fixture.writes.leaderChanged(2, LeaderElection.Transfer);
  assert.equal(fixture.writes.applied(2), GRACE_MS);
  fixture.nowMs += 20;
  fixture.answered('w1'); // forwarded by the old leader, applied just after the new leader's first entry
  fixture.writes.applied(2);
  fixture.nowMs += GRACE_MS;
  assert.equal(fixture.writes.recheck(), undefined);
  assert.deepEqual(fixture.lost, []);
});

test('the grace also counts from the new term\'s first apply here, not only from the change', () => {
  const fixture = following();
  fixture.writes.leaderChanged(2, LeaderElection.Transfer);
  fixture.nowMs += 250; // the new leader's first entry applies late (a loaded machine)
  assert.equal(fixture.writes.applied(2), GRACE_MS);
  fixture.nowMs += GRACE_MS - 1;
  assert.equal(fixture.writes.recheck(), 1);
  assert.deepEqual(fixture.lost, []);
  fixture.nowMs += 1;
  fixture.writes.recheck();
  assert.deepEqual(fixture.lost, ['w1']);
});

test('a leader this member cannot place (a learner, a restart, a missed campaign) keeps the grace', () => {
  const fixture = following();
  fixture.writes.leaderChanged(2, LeaderElection.Unknown);
  assert.equal(fixture.writes.applied(2), GRACE_MS);
  assert.deepEqual(fixture.lost, []);
});

test('entries of a term other than the known leader\'s keep the grace: nothing is known of how that term was won', () => {
  const fixture = following();
  fixture.writes.leaderChanged(3, LeaderElection.Election);
  assert.equal(fixture.writes.applied(2), GRACE_MS, 'term 2 applies, won by a leader this member never saw');
  assert.deepEqual(fixture.lost, []);
  assert.equal(fixture.writes.applied(3), undefined, 'once term 3 (its leader elected) applies, the write is lost at once');
  assert.deepEqual(fixture.lost, ['w1']);
});

test('writes that started after the change are not marked, and nothing is scanned with none at risk', () => {
  const fixture = following();
  fixture.writes.leaderChanged(2, LeaderElection.Election);
  fixture.write('w2'); // sent to the new leader
  assert.equal(fixture.writes.applied(2), undefined);
  assert.deepEqual(fixture.lost, ['w1']);
  assert.deepEqual([...fixture.pending.keys()], ['w2']);
  assert.equal(fixture.writes.recheck(), undefined);
});

test('a write this member forwarded after the change (held through it) keeps the grace, though the new leader won an election of its own', () => {
  const fixture = following();
  fixture.writes.leaderChanged(2, LeaderElection.Election);
  fixture.heldForwardedTerm = 2; // its forward was buffered when the term changed, and went to the new leader
  const recheck = fixture.writes.applied(2);
  assert.deepEqual(fixture.lost, [], 'it lands after the first entry of term 2');
  assert.equal(recheck, GRACE_MS);
  fixture.nowMs += GRACE_MS;
  fixture.writes.recheck();
  assert.deepEqual(fixture.lost, ['w1'], 'given up once the grace has passed');
});
