import { type TestContext, test } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { Agent } from 'undici';
import { FakeClock, seededRandom } from '../../src/resilience/index.js';
import { parseGatewayConfig } from '../../src/gateway/config.js';
import { Gateway } from '../../src/gateway/gateway.js';
import { type Backend, type BackendHandler, call, closeAll, type Reply, simpleConfig, startBackend, startGateway } from './helpers.js';

/**
 * Hedged requests on real sockets, on both HTTP/1.1 engines: a backend that
 * holds its answers (until the test releases them) stands in for a slow
 * endpoint, so every wait is on a condition, never on a sleep.
 */

/** Polls `check` every few ms, at most `turnsMax` times (the bound of the loop; the test runner's timeout is the real limit). */
async function until(check: () => boolean | Promise<boolean>, what: string, turnsMax = 6_000): Promise<void> {
  for (let turn = 0; turn < turnsMax; turn++) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  assert.fail(`timed out waiting for ${what}`);
}

/** A backend that holds every answer until `release()`, and counts how many of its request connections closed while held. */
interface HoldingBackend {
  readonly backend: Backend;
  readonly methods: string[];
  closedWhileHeld: number;
  release(): void;
}

async function holdingBackend(name: string): Promise<HoldingBackend> {
  const held: Array<() => void> = [];
  const state: HoldingBackend = {
    backend: undefined as unknown as Backend,
    methods: [],
    closedWhileHeld: 0,
    release: () => {
      for (const answer of held.splice(0)) answer();
    },
  };
  const backend = await startBackend(name, (request: IncomingMessage, response: ServerResponse) => {
    state.methods.push(request.method ?? '');
    request.resume();
    let answered = false;
    request.socket.once('close', () => {
      if (!answered) state.closedWhileHeld++;
    });
    held.push(() => {
      answered = true;
      if (!response.destroyed) response.writeHead(200, { 'x-backend': name }).end(name);
    });
  });
  (state as { backend: Backend }).backend = backend;
  return state;
}

/** Answers at once with its name, echoing the request body's length. */
async function fastBackend(name: string): Promise<Backend> {
  return startBackend(name, (request, response) => {
    let bytes = 0;
    request.on('data', (chunk: Buffer) => (bytes += chunk.length));
    request.on('end', () => response.writeHead(200, { 'x-backend': name }).end(`${name} ${request.method} ${bytes}`));
  });
}

async function metricsText(agent: Agent, port: number): Promise<string> {
  return (await call(agent, port, '/metrics')).body;
}

function counter(text: string, outcome: string): number {
  const match = new RegExp(`keel_gateway_hedges_total\\{route="all",outcome="${outcome}"\\} (\\d+)`).exec(text);
  return match === null ? 0 : Number(match[1]);
}

const DELAY_MS = 50;

function hedgeRoute(hedge: Record<string, unknown>): Record<string, unknown> {
  return { hedge: { delay: { fixedMs: DELAY_MS }, budgetPercent: 100, minHedgesPerSecond: 10, ...hedge } };
}

/** What a hedging test runs against: a gateway on a clock the test moves (a hedge goes out only when the test advances past the delay). */
interface Rig {
  readonly gateway: Gateway;
  readonly clock: FakeClock;
  readonly agent: Agent;
  readonly port: number;
  metrics(): Promise<string>;
}

/** A gateway in front of `held` (holding) then `plain` backends, all closed (held answers released first) when the test ends. */
async function startRig(t: TestContext, held: readonly HoldingBackend[], plain: readonly Backend[], hedge: Record<string, unknown>, engine = 'fast'): Promise<Rig> {
  const clock = new FakeClock();
  const addresses = [...held.map((backend) => backend.backend.address), ...plain.map((backend) => backend.address)];
  const config = parseGatewayConfig({ ...simpleConfig(addresses, {}, hedgeRoute(hedge)), listeners: [{ port: 0, engine }], admin: { port: 0 } });
  const gateway = await Gateway.start({ config, random: seededRandom(1), clock });
  const agent = new Agent({ connections: 8 });
  t.after(async () => {
    for (const backend of held) backend.release();
    await agent.close();
    await closeAll(gateway, ...held.map((backend) => backend.backend), ...plain);
  });
  return { gateway, clock, agent, port: gateway.ports[0]!, metrics: () => metricsText(agent, gateway.adminPort!) };
}

for (const engine of ['fast', 'node'] as const) {
  test(`hedging (${engine} engine): a request stuck on a slow endpoint is answered by the other; the slow attempt's connection is closed, counted as won`, async (t) => {
    const slow = await holdingBackend('slow');
    const fast = await fastBackend('fast');
    const { clock, agent, port, metrics } = await startRig(t, [slow], [fast], { extraMethods: ['PUT'] }, engine);
    const replies = Promise.all([
      call(agent, port, '/a'), call(agent, port, '/b'), call(agent, port, '/c', { method: 'PUT', body: 'abcde' }), call(agent, port, '/d', { method: 'PUT', body: 'xyz' }),
    ]);
    await until(() => slow.backend.hits + fast.hits === 4, 'every first attempt at a backend');
    assert.ok(slow.backend.hits >= 1, 'round robin sent some first attempts to the slow endpoint');
    await clock.advance(DELAY_MS);
    const answered: Reply[] = await replies;
    for (const reply of answered) {
      assert.equal(reply.status, 200);
      assert.equal(reply.headers['x-backend'], 'fast');
    }
    assert.deepEqual(answered.map((reply) => reply.body), ['fast GET 0', 'fast GET 0', 'fast PUT 5', 'fast PUT 3'], 'a buffered body is sent whole to the hedge');
    await until(() => slow.closedWhileHeld === slow.backend.hits, 'every slow attempt cancelled (its connection closed)');
    assert.equal(fast.hits, 4, 'the hedges went to the other endpoint');
    const text = await metrics();
    assert.equal(counter(text, 'won'), slow.backend.hits);
    assert.equal(counter(text, 'lost'), 0);
    assert.equal(counter(text, 'budget_exhausted'), 0);
  });
}

test('hedging: once the budget is spent, hedges are refused (budget_exhausted) and requests wait for their first attempt', async (t) => {
  const slow = await holdingBackend('slow');
  const fast = await fastBackend('fast');
  // 10% of 6 requests is under one hedge; the floor allows one per 10 s window: exactly one hedge may go out
  const { clock, agent, port, metrics } = await startRig(t, [slow], [fast], { budgetPercent: 10, minHedgesPerSecond: 0.1 });
  const total = 6;
  const replies = Promise.all(Array.from({ length: total }, (_, index) => call(agent, port, `/${index}`)));
  await until(() => slow.backend.hits + fast.hits === total, 'every first attempt at a backend');
  const slowFirst = slow.backend.hits;
  assert.ok(slowFirst >= 2, `round robin sent at least two first attempts to the slow endpoint (${slowFirst})`);
  await clock.advance(DELAY_MS);
  let text = '';
  await until(async () => {
    text = await metrics();
    return counter(text, 'won') + counter(text, 'budget_exhausted') === slowFirst;
  }, 'every hedge due sent or refused');
  assert.equal(counter(text, 'won'), 1, 'the budget allowed exactly one hedge');
  assert.equal(counter(text, 'budget_exhausted'), slowFirst - 1);
  assert.equal(fast.hits, total - slowFirst + 1);
  slow.release();
  const answered = await replies;
  assert.ok(answered.every((reply) => reply.status === 200));
  assert.equal(answered.filter((reply) => reply.headers['x-backend'] === 'slow').length, slowFirst - 1, 'unhedged requests were answered by their first attempt');
});

test('hedging: POST is never hedged (nor PUT unless the route lists it), while a GET on the same route is', async (t) => {
  const only = await holdingBackend('only');
  const { clock, agent, port, metrics } = await startRig(t, [only], [], {});
  const post = call(agent, port, '/p', { method: 'POST', body: 'x' });
  const put = call(agent, port, '/u', { method: 'PUT', body: 'y' });
  const get = call(agent, port, '/g');
  await until(() => only.methods.length === 3, 'the POST, the PUT and the GET at the backend');
  await clock.advance(DELAY_MS * 4);
  // one endpoint: the GET's hedge goes to it again
  await until(() => only.methods.length === 4, 'the GET\'s hedge at the backend');
  assert.deepEqual([...only.methods].sort(), ['GET', 'GET', 'POST', 'PUT']);
  only.release();
  const replies = await Promise.all([post, put, get]);
  assert.deepEqual(replies.map((reply) => reply.status), [200, 200, 200]);
  const text = await metrics();
  assert.equal(counter(text, 'won') + counter(text, 'lost'), 1, 'one hedge, for the GET');
  assert.equal(only.methods.length, 4);
});

test('hedging: a retriable status (retry.onStatuses) sends the next attempt at once; when every attempt gets one, the last is relayed', async (t) => {
  const unavailable: BackendHandler = (request, response, backend) => {
    request.resume();
    response.writeHead(503, { 'x-backend': backend.name }).end(backend.name);
  };
  const bad = await startBackend('bad', unavailable);
  const good = await fastBackend('good');
  const mixed = await startRig(t, [], [bad, good], {});
  // the clock never moves: only the 503s send hedges
  const replies = await Promise.all([0, 1, 2, 3].map((index) => call(mixed.agent, mixed.port, `/${index}`)));
  assert.ok(bad.hits >= 1);
  assert.deepEqual(replies.map((reply) => `${reply.status} ${reply.headers['x-backend']}`), Array(4).fill('200 good'));
  assert.equal(counter(await mixed.metrics(), 'won'), bad.hits);
  const worst = await startBackend('worst', unavailable);
  const alone = await startRig(t, [], [worst], {});
  const reply = await call(alone.agent, alone.port, '/');
  assert.equal(`${reply.status} ${reply.headers['x-backend']}`, '503 worst', 'the upstream\'s own answer, not a gateway error');
  assert.equal(worst.hits, 2);
  assert.equal(counter(await alone.metrics(), 'won'), 1, 'the hedge\'s answer was the one relayed');
});

for (const engine of ['fast', 'node'] as const) {
  test(`hedging (${engine} engine): the client leaving cancels its attempt and no hedge follows`, async (t) => {
    const only = await holdingBackend('only');
    const { clock, agent, port } = await startRig(t, [only], [], {}, engine);
    const client = connect(port, '127.0.0.1', () => client.write('GET /gone HTTP/1.1\r\nHost: a\r\n\r\n'));
    client.on('error', () => {});
    await until(() => only.methods.length === 1, 'the request at the backend');
    // a reset, not a FIN: a FIN after a complete request is a half-close, and the answer is still owed
    client.resetAndDestroy();
    await until(() => only.closedWhileHeld === 1, 'the upstream attempt cancelled (its connection closed)');
    await clock.advance(DELAY_MS * 4);
    // a later request's hedge arriving shows the delays passed: the first request sent none
    const later = call(agent, port, '/later');
    await until(() => only.methods.length === 2, 'the later request at the backend');
    await clock.advance(DELAY_MS * 4);
    await until(() => only.methods.length === 3, 'the later request\'s hedge');
    only.release();
    assert.equal((await later).status, 200);
    assert.equal(only.methods.length, 3);
  });
}

test('hedging: the delay is the initial one until enough samples, then follows the route\'s latency percentile', async (t) => {
  const latencyMs = 30;
  const backend = await startBackend('steady', (request, response) => {
    request.resume();
    // the backend's own latency (what the percentile measures), not a wait of the test's
    setTimeout(() => response.end('ok'), latencyMs);
  });
  const gateway = await startGateway(simpleConfig([backend.address], {}, {
    hedge: { delay: { percentile: 99 }, initialDelayMs: 5_000, minDelayMs: 1, minSamples: 10, sampleSize: 20, budgetPercent: 10, minHedgesPerSecond: 0 },
  }));
  const agent = new Agent({ connections: 1 });
  t.after(async () => {
    await agent.close();
    await closeAll(gateway, backend);
  });
  const port = gateway.ports[0]!;
  const delaySeconds = async (): Promise<number> => Number(/keel_gateway_hedge_delay_seconds\{route="all"\} ([\d.e-]+)/.exec(await metricsText(agent, gateway.adminPort!))?.[1]);
  // The first request is one of the samples too (and often the slowest: the first upstream connection, cold code).
  const firstStartedMs = performance.now();
  await call(agent, port, '/');
  let slowestMs = performance.now() - firstStartedMs;
  assert.equal(await delaySeconds(), 5, 'before minSamples: the initial delay');
  for (let index = 0; index < 12; index++) {
    const startedMs = performance.now();
    await call(agent, port, '/');
    slowestMs = Math.max(slowestMs, performance.now() - startedMs);
  }
  const delayMs = (await delaySeconds()) * 1000;
  assert.ok(delayMs >= latencyMs - 1, `the delay (${delayMs} ms) is a measured latency, at least the backend's ${latencyMs} ms`);
  assert.ok(delayMs <= slowestMs, `the delay (${delayMs} ms) is no more than the slowest request the client saw (${slowestMs} ms)`);
});
