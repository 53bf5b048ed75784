import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { majorityCommitted, voteResult, VoteResult, hasQuorum } from '../../src/raft/quorum.js';

// Property tests of the majority math against brute-force references.

/** Reference: the largest index i such that more than half the voters have match >= i. */
function referenceCommitted(matches: number[]): number {
  let best = 0;
  for (const candidate of [0, ...matches]) {
    const count = matches.filter((m) => m >= candidate).length;
    if (count * 2 > matches.length && candidate > best) best = candidate;
  }
  return best;
}

/** Reference: try every completion of the missing votes. */
function referenceVote(voters: string[], votes: Map<string, boolean>): VoteResult {
  const missing = voters.filter((v) => !votes.has(v));
  let canWin = false;
  let canLose = false;
  for (let mask = 0; mask < 1 << missing.length; mask++) {
    let granted = voters.filter((v) => votes.get(v) === true).length;
    missing.forEach((_, i) => {
      if (mask & (1 << i)) granted++;
    });
    if (granted * 2 > voters.length) canWin = true;
    else canLose = true;
  }
  if (canWin && !canLose) return VoteResult.Won;
  if (canLose && !canWin) return VoteResult.Lost;
  return VoteResult.Pending;
}

test('majorityCommitted matches the brute-force reference', () => {
  fc.assert(
    fc.property(fc.array(fc.nat(50), { minLength: 1, maxLength: 9 }), (matches) => {
      const voters = new Set(matches.map((_, i) => `n${i}`));
      const committed = majorityCommitted(voters, (id) => matches[Number(id.slice(1))]!);
      assert.equal(committed, referenceCommitted(matches));
    }),
    { numRuns: 2000 },
  );
});

test('voteResult matches the brute-force reference', () => {
  fc.assert(
    fc.property(fc.array(fc.constantFrom<boolean | undefined>(true, false, undefined), { minLength: 1, maxLength: 9 }), (raw) => {
      const voters = raw.map((_, i) => `n${i}`);
      const votes = new Map<string, boolean>();
      raw.forEach((vote, i) => {
        if (vote !== undefined) votes.set(`n${i}`, vote);
      });
      assert.equal(voteResult(new Set(voters), votes), referenceVote(voters, votes));
    }),
    { numRuns: 2000 },
  );
});

test('hasQuorum counts a strict majority', () => {
  fc.assert(
    fc.property(fc.array(fc.boolean(), { minLength: 1, maxLength: 9 }), (active) => {
      const voters = new Set(active.map((_, i) => `n${i}`));
      const expected = active.filter(Boolean).length * 2 > active.length;
      assert.equal(hasQuorum(voters, (id) => active[Number(id.slice(1))]!), expected);
    }),
  );
});

test('an empty voter set commits nothing', () => {
  assert.equal(majorityCommitted(new Set(), () => 5), 0);
});
