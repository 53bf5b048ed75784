import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock, seededRandom } from '../../src/resilience/index.js';
import { parseGatewayConfig } from '../../src/gateway/config.js';
import { type HedgeOutcome, RouteHedge } from '../../src/gateway/hedging.js';
import { RoutingTable } from '../../src/gateway/table.js';

/** The race without sockets: answers are plain objects, attempts resolve when the test says. */

interface Answer {
  readonly attempt: number;
  readonly status: number;
}

function hedgeConfig(overrides: Record<string, unknown> = {}) {
  const config = parseGatewayConfig({
    listeners: [{ port: 0 }],
    routes: [{ name: 'r', cluster: 'c', hedge: { delay: { fixedMs: 10 }, maxAttempts: 3, budgetPercent: 100, minHedgesPerSecond: 100, ...overrides } }],
    clusters: { c: { endpoints: [{ address: '127.0.0.1:1' }] } },
  });
  return config;
}

function rig(overrides: Record<string, unknown> = {}) {
  const clock = new FakeClock();
  const outcomes: HedgeOutcome[] = [];
  const hedge = new RouteHedge('r', hedgeConfig(overrides).routes[0]!.hedge!, clock, { outcome: (_route, outcome) => outcomes.push(outcome), delay: () => {} });
  const answer: Array<(value: Answer) => void> = [];
  const signals: AbortSignal[] = [];
  const cancelled: number[] = [];
  const engine = { status: (value: Answer) => value.status, cancel: (value: Answer) => void cancelled.push(value.attempt) };
  const launch = (attempt: number, signal: AbortSignal) => {
    signals.push(signal);
    return new Promise<Answer>((resolve, reject) => {
      answer[attempt] = resolve;
      signal.addEventListener('abort', () => reject(signal.reason), { once: true });
    });
  };
  return { clock, hedge, outcomes, answer, signals, cancelled, engine, launch };
}

test('race: the first answer wins; attempts still in flight are aborted, counted lost', async () => {
  const { clock, hedge, outcomes, answer, signals, cancelled, engine, launch } = rig();
  const race = hedge.race(engine, launch, [503], new AbortController().signal);
  await clock.advance(10);
  await clock.advance(10);
  assert.equal(signals.length, 3, 'maxAttempts 3: two hedges, one per delay');
  answer[2]!({ attempt: 2, status: 200 });
  assert.deepEqual(await race, { attempt: 2, status: 200 });
  assert.equal(signals[0]!.aborted && signals[2]!.aborted, true);
  assert.deepEqual(cancelled, []);
  assert.deepEqual(outcomes.sort(), ['lost', 'won']);
});

test('race: an answer arriving after the race ended is cancelled, never relayed', async () => {
  const { clock, hedge, cancelled, engine } = rig();
  // an attempt that ignores its signal (its answer was already on the way)
  const late: Array<(value: Answer) => void> = [];
  const race = hedge.race(engine, (attempt) => new Promise<Answer>((resolve) => (late[attempt] = resolve)), [503], new AbortController().signal);
  await clock.advance(10);
  late[1]!({ attempt: 1, status: 200 });
  assert.deepEqual(await race, { attempt: 1, status: 200 });
  late[2]!({ attempt: 2, status: 200 });
  await clock.advance(0);
  assert.deepEqual(cancelled, [2]);
});

test('race: a retriable answer sends the next attempt at once and is cancelled when a better one comes; if none does, the last is relayed', async () => {
  const first = rig();
  const race = first.hedge.race(first.engine, first.launch, [503], new AbortController().signal);
  await first.clock.advance(0);
  first.answer[1]!({ attempt: 1, status: 503 });
  await first.clock.advance(0);
  assert.equal(first.signals.length, 2, 'no delay after a retriable answer');
  first.answer[2]!({ attempt: 2, status: 200 });
  assert.deepEqual(await race, { attempt: 2, status: 200 });
  assert.deepEqual(first.cancelled, [1], 'the 503 held while the race ran is dropped');

  const second = rig({ maxAttempts: 2 });
  const lastRace = second.hedge.race(second.engine, second.launch, [503], new AbortController().signal);
  await second.clock.advance(0);
  second.answer[1]!({ attempt: 1, status: 503 });
  await second.clock.advance(0);
  second.answer[2]!({ attempt: 2, status: 503 });
  assert.deepEqual(await lastRace, { attempt: 2, status: 503 }, 'every attempt got a retriable answer: the last is relayed');
  assert.deepEqual(second.cancelled, [1]);
});

test('race: the budget refuses hedges past its percentage (budget_exhausted), and the client leaving ends the race', async () => {
  const { clock, hedge, outcomes, engine, launch, signals } = rig({ budgetPercent: 0, minHedgesPerSecond: 0 });
  const client = new AbortController();
  const race = hedge.race(engine, launch, [503], client.signal);
  await clock.advance(10);
  assert.equal(signals.length, 1);
  assert.deepEqual(outcomes, ['budget_exhausted']);
  client.abort(new Error('client closed the connection'));
  await assert.rejects(race, /client closed the connection/);
});

test('admits: safe methods always, PUT and DELETE when listed, bodies only with a length that fits', () => {
  const { hedge } = rig({ extraMethods: ['PUT'], maxBodyBytes: 10 });
  assert.equal(hedge.admits('GET', 0), true);
  assert.equal(hedge.admits('HEAD', 0), true);
  assert.equal(hedge.admits('OPTIONS', 0), true);
  assert.equal(hedge.admits('PUT', 10), true);
  assert.equal(hedge.admits('PUT', 11), false);
  assert.equal(hedge.admits('PUT', undefined), false, 'chunked: no length to bound');
  assert.equal(hedge.admits('DELETE', 0), false);
  assert.equal(hedge.admits('POST', 0), false);
  assert.equal(hedge.admits('PATCH', 0), false);
});

test('a reload keeps a route\'s hedge state (samples, budget) while its hedge settings are unchanged', () => {
  const clock = new FakeClock();
  const random = seededRandom(1);
  const first = new RoutingTable(hedgeConfig(), clock, random);
  const same = new RoutingTable(hedgeConfig(), clock, random, first);
  const changed = new RoutingTable(hedgeConfig({ budgetPercent: 5 }), clock, random, same);
  assert.equal(same.hedges.get('r'), first.hedges.get('r'));
  assert.notEqual(changed.hedges.get('r'), same.hedges.get('r'));
  assert.equal(changed.hedges.get('r')?.config.budgetPercent, 5);
});
