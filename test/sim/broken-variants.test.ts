import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RaftConfig } from '../../src/raft/config.js';
import { Raft } from '../../src/raft/raft.js';
import { ExitCode, runSeed } from '../../sim/run.js';
import type { Plants, StoreFactory } from '../../sim/node.js';
import { Lessor } from '../../src/node/lessor.js';
import { StoreStateMachine } from '../../src/store/state-machine.js';

// The simulator must catch real bugs. Each variant below plants one classic
// consensus bug through a protected seam of the core; some seed of the
// standard run (1..300 at 8,000 steps, as in seeds.test.ts) must catch it as
// a safety violation (exit 129).
const STANDARD_SEEDS = 300;
const STEPS = 8_000;

/** Votes for any candidate, however stale its log (drops the election restriction, §5.4.1). */
class VotesForStaleLogs extends Raft {
  protected override candidateIsUpToDate(): boolean {
    return true;
  }
}

/** Answers reads from its own commit index without checking it still leads (a deposed leader serves stale reads). */
class ReadsWithoutConfirmingLeadership extends Raft {
  protected override readsWithoutRoundTrip(): boolean {
    return true;
  }
}

function firstCatch(plants: Plants): { seed: number; failure: string } | undefined {
  for (let seed = 1; seed <= STANDARD_SEEDS; seed++) {
    const result = runSeed(seed, { steps: STEPS }, plants);
    if (result.exitCode !== ExitCode.Ok) {
      assert.equal(result.exitCode, ExitCode.Safety, `seed ${seed} failed, but not as a safety violation: ${result.failure}`);
      return { seed, failure: result.failure! };
    }
  }
  return undefined;
}

test('dropping the election restriction is caught (leader completeness)', () => {
  const caught = firstCatch({ raft: (config: RaftConfig) => new VotesForStaleLogs(config) });
  assert.ok(caught, 'no seed caught the bug');
  assert.match(caught.failure, /leader completeness|state machine safety|log matching/);
});

test('serving reads without confirming leadership is caught (linearizability)', () => {
  const caught = firstCatch({ raft: (config: RaftConfig) => new ReadsWithoutConfirmingLeadership(config) });
  assert.ok(caught, 'no seed caught the bug');
  assert.match(caught.failure, /linearizability/);
});

test('a member that honours the space quota differently is caught (its store diverges)', () => {
  // n1 checks a quota twice as large as everyone else's: it takes puts the others refuse with NOSPACE.
  const uneven: StoreFactory = (node, options) => new StoreStateMachine(node === 'n1' && options.quotaBytes ? { quotaBytes: options.quotaBytes * 2 } : options);
  const caught = firstCatch({ store: uneven });
  assert.ok(caught, 'no seed caught the bug');
  assert.match(caught.failure, /state machine safety|linearizability/);
});

test('a leader whose clock runs fast is caught revoking a lease a client still holds (lease safety)', () => {
  // n1's lessor reads a clock running 1.5x: as leader it expires a lease a third of its TTL early.
  const caught = firstCatch({ lessor: (node, now) => new Lessor(node === 'n1' ? () => now() * 1.5 : now) });
  assert.ok(caught, 'no seed caught the bug');
  assert.match(caught.failure, /lease safety/);
});

test('a leader that answers keep-alives without a ReadIndex round is caught promising a lease an older revoke ends (lease safety)', () => {
  // Found with leases forced on seeds 1..2300 (run.ts's runSeed with { leases: true, checkQuorum: true }):
  // n3 proposed revokes at term 34, lost and won back leadership at term 40 (promoting its lessor, so the
  // lease lived again), answered a keep-alive, then its term-40 entry committed the term-34 revoke. The
  // shipping renew waits for a round first (LeaseService.renew), so it applies the revoke and answers TTL 0.
  // A change to the simulator's random draws moves the catch to another seed: search again as above.
  // Restores in one go (restoreStepWork 0) and no sweeps (deleteStepKeys 0), as the simulator ran when this seed was found.
  // Seed 1932 until raft-loop applied commit-only Readies before their write (the event order changed);
  // 4855 catches it since (searched from 2301 as above; n2 answers a keep-alive for lease 12 that a revoke ends 20 ms later).
  const seed = 4855;
  const overrides = { leases: true, checkQuorum: true, restoreStepWork: 0, deleteStepKeys: 0 } as const;
  const planted = runSeed(seed, overrides, { renewWithoutRound: true });
  assert.equal(planted.exitCode, ExitCode.Safety, `seed ${seed} no longer catches it: ${planted.failure ?? 'passed'}`);
  assert.match(planted.failure!, /lease safety/);
  const shipping = runSeed(seed, overrides);
  assert.equal(shipping.exitCode, ExitCode.Ok, shipping.failure);
});
