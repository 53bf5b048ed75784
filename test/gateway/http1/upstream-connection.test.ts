import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { DeadlineSweep } from '../../../src/gateway/http1/deadline-sweep.js';
import { UpstreamConnection, type UpstreamHolder } from '../../../src/gateway/http1/upstream-connection.js';

/**
 * Waits until `check` holds, a turn of the event loop at a time, for at most
 * `waitMsMax` (so a broken wait fails instead of hanging). Bounded by time,
 * not by turns: a CI run's 20,000 idle turns passed in about 70 ms, before a
 * 60 ms timeout the test waited for could fire.
 */
async function until(check: () => boolean, what: string, waitMsMax = 10_000): Promise<void> {
  const deadline = performance.now() + waitMsMax;
  while (performance.now() < deadline) {
    if (check()) return;
    await new Promise((resolve) => setImmediate(resolve));
  }
  if (check()) return;
  assert.fail(`never: ${what}`);
}

/** A loopback server and one connection to it, wrapped; `server` is its accepted end. */
async function pair(sweep: DeadlineSweep): Promise<{ connection: UpstreamConnection; server: Socket; listener: Server; closes: number[] }> {
  const accepted: Socket[] = [];
  const listener = createServer((socket) => accepted.push(socket));
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', () => resolve()));
  const port = (listener.address() as { port: number }).port;
  const closes: number[] = [];
  const ready = new Promise<UpstreamConnection>((resolve, reject) => {
    const connection: UpstreamConnection = new UpstreamConnection(connect(port, '127.0.0.1'), sweep, 'connect', 5_000, (error) => (error ? reject(error) : resolve(connection)), () => closes.push(1));
  });
  const connection = await ready;
  await until(() => accepted.length === 1, 'the server accepted');
  return { connection, server: accepted[0]!, listener, closes };
}

function recorder(): UpstreamHolder & { data: string; closed: number; timedOut: number } {
  const holder = {
    data: '', closed: 0, timedOut: 0,
    onData: (chunk: Buffer) => (holder.data += chunk.toString()),
    onClose: () => holder.closed++,
    onTimeout: () => holder.timedOut++,
  };
  return holder;
}

test('an upstream connection hands bytes to its holder; parked, they wait in order for the next holder; idle, a byte closes it', async (t) => {
  const sweep = new DeadlineSweep(10);
  const { connection, server, listener, closes } = await pair(sweep);
  t.after(() => {
    connection.destroy();
    listener.close();
    sweep.stop();
  });
  const first = recorder();
  connection.hold(first, 0);
  server.write('one');
  await until(() => first.data === 'one', 'the holder got the bytes');
  connection.park();
  server.write('two');
  await until(() => connection.socket.isPaused(), 'parked bytes wait in the paused socket');
  const second = recorder();
  connection.hold(second, 0);
  connection.socket.resume();
  server.write('three');
  await until(() => second.data === 'twothree', 'the next holder got the parked bytes first');
  assert.equal(first.data, 'one');
  connection.idle(60_000);
  server.write('unasked');
  await until(() => closes.length === 1, 'an idle connection that gets a byte is closed (the upstream is out of step)');
  assert.equal(second.closed, 0, 'a holder that let go hears nothing');
});

test('an upstream connection times out after its holder\'s timeout without a byte either way; a byte restarts it; a close reaches a parked connection\'s next holder', async (t) => {
  const sweep = new DeadlineSweep(5);
  const { connection, server, listener } = await pair(sweep);
  t.after(() => {
    connection.destroy();
    listener.close();
    sweep.stop();
  });
  const holder = recorder();
  const heldMs = performance.now();
  connection.hold(holder, 60);
  const drip = setInterval(() => server.write('x'), 10);
  await until(() => holder.data.length >= 8, 'bytes kept coming');
  clearInterval(drip);
  assert.equal(holder.timedOut, 0, 'bytes within the timeout keep it from firing');
  await until(() => holder.timedOut === 1, 'the timeout fired once the bytes stopped');
  assert.ok(performance.now() - heldMs >= 60 + 60, 'not before a whole timeout after the last byte');
  connection.park();
  server.destroy();
  await until(() => connection.closed, 'the upstream closed while parked');
  const next = recorder();
  connection.hold(next, 0);
  await until(() => next.closed === 1, 'the next holder heard the close');
});

test('the deadline sweep checks its entries on each tick until they leave', async () => {
  const sweep = new DeadlineSweep(5);
  const left: number[] = [];
  const stays: number[] = [];
  const leaving = { expireIfDue: (nowMs: number) => void left.push(nowMs) };
  const staying = { expireIfDue: (nowMs: number) => void stays.push(nowMs) };
  sweep.add(leaving);
  await until(() => left.length >= 2, 'two ticks checked the entry');
  assert.ok(left[1]! >= left[0]!, 'each check gets the time of its tick');
  sweep.delete(leaving);
  const count = left.length;
  sweep.add(staying);
  await until(() => stays.length >= 3, 'three ticks checked the other entry');
  sweep.delete(staying);
  assert.equal(left.length, count, 'an entry that left is not checked');
});
