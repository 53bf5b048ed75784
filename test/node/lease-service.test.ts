import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LeaderChangedError } from '../../src/node/errors.js';
import type { LeaseHost } from '../../src/node/lease-service.js';
import { LeaseService } from '../../src/node/lease-service.js';
import { silentLogger } from '../../src/node/logger.js';
import type { Reads } from '../../src/node/reads.js';
import { NONE } from '../../src/raft/types.js';

// The service's host and its ReadIndex rounds are stand-ins (a member and a
// quorum are not the subject here): each test settles a round by hand, so it
// controls what the leader applies and learns before a keep-alive is answered.

interface Round {
  resolve(): void;
  reject(error: unknown): void;
}

function harness(): { service: LeaseService; rounds: Round[]; host: { leader: boolean } } {
  const host = { leader: true };
  const rounds: Round[] = [];
  const reads = {
    round: () =>
      new Promise<void>((resolve, reject) => {
        rounds.push({ resolve, reject });
      }),
    waitForLeader: () => Promise.resolve(false),
  } as unknown as Reads;
  const leaseHost: LeaseHost = {
    isLeader: () => host.leader,
    leader: () => (host.leader ? 'n1' : NONE),
    leaderClientUrl: () => undefined,
    leaderChange: () => new AbortController().signal,
    stopping: () => false,
    checkAccepting: () => {},
    propose: () => Promise.reject(new Error('not used')),
    leases: () => [],
    leaseKeys: () => [],
    expiredRevoked: () => {},
    requestTimeoutMs: () => 5_000,
    minLeaseTtlSeconds: () => 1,
  };
  let now = 0;
  const service = new LeaseService(leaseHost, reads, () => now++, silentLogger);
  return { service, rounds, host };
}

async function until(condition: () => boolean): Promise<void> {
  for (let turn = 0; turn < 1_000 && !condition(); turn++) await new Promise((resolve) => setImmediate(resolve));
  assert.ok(condition(), 'condition not reached in 1,000 turns');
}

test('the leader answers a keep-alive only after a ReadIndex round: a revoke committed from the previous term is applied first', async () => {
  const { service, rounds } = harness();
  service.lessor.promote([{ id: 7n, ttlSeconds: 10 }]);
  const answer = service.renew(7n, false, 5_000);
  await until(() => rounds.length === 1);
  // While the round runs, the new leader applies the previous leader's revoke (it committed with this term's first entry).
  service.lessor.revoked(7n);
  rounds[0]!.resolve();
  assert.equal(await answer, 0, 'a lease revoked before the round finished is gone, not renewed');
});

test('a live lease is renewed once the round confirms this member leads', async () => {
  const { service, rounds } = harness();
  service.lessor.promote([{ id: 7n, ttlSeconds: 10 }]);
  const answer = service.renew(7n, false, 5_000);
  await until(() => rounds.length === 1);
  rounds[0]!.resolve();
  assert.equal(await answer, 10);
});

test('a leader deposed during the round does not renew: it stops answering from its own deadlines', async () => {
  const { service, rounds, host } = harness();
  service.lessor.promote([{ id: 7n, ttlSeconds: 10 }]);
  const answer = service.renew(7n, false, 5_000);
  await until(() => rounds.length === 1);
  host.leader = false;
  service.lessor.demote();
  rounds[0]!.reject(new LeaderChangedError());
  // No leader known and none elected within the wait: the keep-alive fails rather than being answered by the deposed lessor.
  await assert.rejects(answer);
});

test('a keep-alive that arrives in time keeps its lease through a slow round', async () => {
  const { service, rounds } = harness();
  service.lessor.promote([{ id: 7n, ttlSeconds: 1 }]);
  // The harness clock advances 1 ms per reading: 600 ms pass before the keep-alive arrives, 600 more while its round runs.
  const passMs = (ms: number): void => {
    for (let i = 0; i < ms; i++) service.lessor.remainingSeconds(7n);
  };
  passMs(600);
  const answer = service.renew(7n, false, 5_000);
  await until(() => rounds.length === 1);
  passMs(600);
  assert.deepEqual(service.lessor.expired(10), [], 'the keep-alive moved the deadline when it arrived, not when its round ended');
  rounds[0]!.resolve();
  assert.equal(await answer, 1);
});
