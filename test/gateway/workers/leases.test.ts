import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock, type RateLimitDecision, seededRandom, tokenBucket } from '../../../src/resilience/index.js';
import { parseGatewayConfig, type RateLimitConfig } from '../../../src/gateway/config.js';
import { LEASE_FALLBACK_MS, LEASE_TIMEOUT_MS, LEASE_TTL_MS } from '../../../src/gateway/limits.js';
import { RateLimits, ruleSignature } from '../../../src/gateway/rate-limits.js';
import { GatewayError } from '../../../src/gateway/errors.js';
import { LeaseClient, shareOf } from '../../../src/gateway/workers/lease-client.js';
import { LeaseLedger } from '../../../src/gateway/workers/lease-ledger.js';
import type { LeaseRequest, LeaseReturn } from '../../../src/gateway/workers/messages.js';

function ruleOf(limit: number, windowMs: number): RateLimitConfig {
  const config = parseGatewayConfig({
    listeners: [{ port: 0 }], routes: [{ name: 'all', cluster: 'app' }], clusters: { app: { endpoints: [{ address: '127.0.0.1:1' }] } },
    rateLimits: [{ name: 'global', descriptor: { global: true }, limit, windowMs }],
  });
  return config.rateLimits[0]!;
}

/** N workers' LeaseClients and one primary's LeaseLedger, joined by an IPC stand-in with seeded delays of 0..maxDelayMs each way. */
function system(workers: number, clock: FakeClock, seed: number, maxDelayMs: number) {
  const random = seededRandom(seed);
  const ledger = new LeaseLedger(clock);
  const clients: LeaseClient[] = [];
  for (let index = 0; index < workers; index++) {
    const client: LeaseClient = new LeaseClient({
      clock, workers,
      send: (message: LeaseRequest | LeaseReturn) => {
        clock.setTimeout(() => {
          if (message.keel === 'return') return ledger.giveBack(message);
          const grant = ledger.grant(message);
          clock.setTimeout(() => client.onGrant(grant), random.next() * maxDelayMs);
        }, random.next() * maxDelayMs);
        return true;
      },
    });
    clients.push(client);
  }
  return clients;
}

/**
 * Drives arrivals (every `stepMs`, `perStep` requests, each sent to worker
 * 0 with probability `skew`) for `durationMs`; returns the permits admitted
 * and what one process's token bucket admits for the same arrivals.
 */
async function run(options: { workers: number; skew: number; perStep: number; stepMs: number; durationMs: number; seed: number; limit: number; windowMs: number }) {
  const clock = new FakeClock();
  const rule = ruleOf(options.limit, options.windowMs);
  const clients = system(options.workers, clock, options.seed, 2);
  const reference = tokenBucket({ capacity: options.limit, refillTokens: options.limit, refillIntervalMs: options.windowMs, clock });
  const random = seededRandom(options.seed + 1);
  const decisions: Array<Promise<RateLimitDecision> | RateLimitDecision> = [];
  const perWorker = new Array<number>(options.workers).fill(0);
  let single = 0;
  for (let elapsedMs = 0; elapsedMs < options.durationMs; elapsedMs += options.stepMs) {
    for (let index = 0; index < options.perStep; index++) {
      const worker = random.next() < options.skew ? 0 : 1 + Math.floor(random.next() * (options.workers - 1));
      perWorker[worker]!++;
      decisions.push(clients[worker]!.acquire(rule, ruleSignature(rule), 'global', 1));
      if (reference.tryAcquire(1).allowed) single++;
    }
    await clock.advance(options.stepMs);
  }
  await clock.advance(LEASE_TIMEOUT_MS * 2);
  const admitted = (await Promise.all(decisions)).filter((decision) => decision.allowed).length;
  return { admitted, single, perWorker };
}

test('leases: N workers under even or skewed load never admit more than one token bucket could grant, and close to what one process admits', async () => {
  // Heavy overload (3 requests/ms against 100/s), and demand just above the limit (1 per 8 ms: 125/s), where leases lapse most.
  for (const [seed, workers, skew, stepMs] of [[1, 2, 0.5, 1], [2, 2, 0.9, 1], [3, 4, 0.25, 1], [4, 2, 1, 1], [5, 2, 0.7, 8], [6, 4, 0.4, 8]] as const) {
    const options = { workers, skew, perStep: stepMs === 1 ? 3 : 1, stepMs, durationMs: 3_000, seed, limit: 100, windowMs: 1_000 };
    const { admitted, single } = await run(options);
    // Every grant comes from the primary's bucket, fresh at the start: at most capacity + one refill per window boundary crossed (the run plus the settling time).
    const ticks = Math.floor((options.durationMs + LEASE_TIMEOUT_MS * 2) / options.windowMs);
    assert.ok(admitted <= options.limit + ticks * options.limit, `seed ${seed}: ${admitted} admitted, more than the bucket grants`);
    // Under-admission: unspent permits go back to the bucket when a lease lapses, so only those in flight at a refill can be missed.
    assert.ok(admitted >= single - Math.ceil((options.limit * LEASE_TTL_MS) / options.windowMs), `seed ${seed}: ${admitted} admitted, one process ${single}`);
  }
});

test('leases: one worker taking all the load gets the whole limit, not limit / N', async () => {
  const { admitted, single, perWorker } = await run({ workers: 2, skew: 1, perStep: 2, stepMs: 1, durationMs: 1_500, seed: 7, limit: 50, windowMs: 1_000 });
  assert.equal(perWorker[1], 0);
  assert.ok(admitted > shareOf(ruleOf(50, 1_000), 2).limit * 2, `${admitted} admitted`);
  assert.ok(admitted >= single - 4, `${admitted} admitted, one process ${single}`);
});

test('leases: a primary that does not answer in LEASE_TIMEOUT_MS leaves each worker on its share (limit / N) until LEASE_FALLBACK_MS has passed', async () => {
  const clock = new FakeClock();
  const rule = ruleOf(10, 60_000);
  const sent: LeaseRequest[] = [];
  const client = new LeaseClient({ clock, workers: 2, send: (message) => message.keel === 'lease' && sent.push(message) > 0 });
  const first = client.acquire(rule, ruleSignature(rule), 'global', 1);
  assert.ok(first instanceof Promise);
  await clock.advance(LEASE_TIMEOUT_MS);
  assert.equal((await first).allowed, true, 'answered from the share');
  let admitted = 1;
  for (let index = 0; index < 20; index++) if ((client.acquire(rule, ruleSignature(rule), 'global', 1) as RateLimitDecision).allowed) admitted++;
  assert.equal(admitted, shareOf(rule, 2).limit, 'the share is limit / N');
  assert.equal(sent.length, 1, 'no further lease asked for during the fallback');
  await clock.advance(LEASE_FALLBACK_MS);
  const again = client.acquire(rule, ruleSignature(rule), 'global', 1);
  assert.ok(again instanceof Promise, 'asks the primary again');
  assert.equal(sent.length, 2);
  client.disconnect();
  assert.equal((await again).allowed, false, 'the share is spent');
});

test('leases: under a flood a refused key is asked about again only after min(Retry-After, LEASE_TTL_MS)', async () => {
  const clock = new FakeClock();
  const rule = ruleOf(10, 1_000);
  const ledger = new LeaseLedger(clock);
  let asked = 0;
  const client: LeaseClient = new LeaseClient({
    clock, workers: 2,
    send: (message) => {
      if (message.keel === 'lease') {
        asked++;
        const grant = ledger.grant(message);
        clock.setTimeout(() => client.onGrant(grant), 1);
      }
      return true;
    },
  });
  const decisions: Array<RateLimitDecision | Promise<RateLimitDecision>> = [];
  for (let elapsedMs = 0; elapsedMs < 1_000; elapsedMs++) {
    for (let index = 0; index < 5; index++) decisions.push(client.acquire(rule, ruleSignature(rule), 'global', 1));
    await clock.advance(1);
  }
  const resolved = await Promise.all(decisions);
  assert.equal(resolved.filter((decision) => decision.allowed).length, 10);
  assert.ok(resolved.filter((decision) => !decision.allowed).every((decision) => decision.retryAfterMs > 0));
  // 5,000 requests: the 10 permits' leases, then about one question per LEASE_TTL_MS.
  assert.ok(asked <= 10 + 1_000 / LEASE_TTL_MS + 2, `${asked} lease requests`);
});

test('leases: the ledger grants a whole batch, else what is left if it covers the request, else refuses with Retry-After', () => {
  const clock = new FakeClock();
  const rule = ruleOf(10, 1_000);
  const ledger = new LeaseLedger(clock);
  const ask = (permits: number, batch: number) => ledger.grant({ keel: 'lease', id: 1, signature: ruleSignature(rule), key: 'k', permits, batch });
  assert.equal(ask(1, 8).granted, 8);
  assert.equal(ask(1, 8).granted, 2);
  const refused = ask(1, 8);
  assert.equal(refused.granted, 0);
  assert.ok(refused.retryAfterMs > 0 && refused.retryAfterMs <= 1_000);
});

test('RateLimits over a PermitSource: synchronous while permits are held, a promise once one rule has to wait, refused with KEEL_GW_RATE_LIMITED', async () => {
  const config = parseGatewayConfig({
    listeners: [{ port: 0 }], routes: [{ name: 'all', cluster: 'app' }], clusters: { app: { endpoints: [{ address: '127.0.0.1:1' }] } },
    rateLimits: [{ name: 'first', descriptor: { global: true }, limit: 10, windowMs: 1_000 }, { name: 'second', descriptor: { global: true }, limit: 10, windowMs: 1_000 }],
  });
  const answers: Record<string, RateLimitDecision | Promise<RateLimitDecision>> = {
    first: { allowed: true, retryAfterMs: 0, remaining: 3 },
    second: { allowed: true, retryAfterMs: 0, remaining: 5 },
  };
  const limits = new RateLimits(config.rateLimits, new FakeClock(), undefined, { acquire: (rule) => answers[rule.name]! });
  const request = { method: 'GET', host: 'h', path: '/', headers: {}, clientIp: '127.0.0.1', routeName: 'all', cost: 1, criticality: 'CRITICAL' as const };
  const refused: string[] = [];
  const held = limits.check(request, (rule) => refused.push(rule));
  assert.ok(!(held instanceof Promise));
  assert.equal(held.ratelimit, '"first";r=3;t=0', 'the most constrained rule answers');
  answers.second = Promise.resolve({ allowed: false, retryAfterMs: 2_500, remaining: 0 });
  const waiting = limits.check(request, (rule) => refused.push(rule));
  assert.ok(waiting instanceof Promise);
  await assert.rejects(waiting, (error: unknown) => GatewayError.is(error) && error.code === 'KEEL_GW_RATE_LIMITED' && error.headers['retry-after'] === '3');
  assert.deepEqual(refused, ['second']);
});
