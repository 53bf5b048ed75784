import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { createServer as createH2cServer } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { connect, type Socket } from 'node:net';
import { eventually } from '../node/cluster-harness.js';
import { type Backend, closeAll, simpleConfig, startBackend, startGateway } from './helpers.js';

/**
 * WebSocket through the gateway on real sockets, with just enough RFC 6455
 * here to test it (no `ws` dependency): the handshake, and single-frame
 * messages under 126 bytes (client frames masked, server frames not).
 */

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const OPCODE_TEXT = 0x1;

function acceptFor(key: string): string {
  return createHash('sha1').update(key + GUID).digest('base64');
}

/** One frame: FIN, the opcode, the payload (masked when `mask`). */
function frame(payload: string, mask: boolean): Buffer {
  const data = Buffer.from(payload);
  assert.ok(data.length < 126, 'this test speaks short frames only');
  if (!mask) return Buffer.concat([Buffer.from([0x80 | OPCODE_TEXT, data.length]), data]);
  const key = randomBytes(4);
  const masked = Buffer.from(data.map((byte, index) => byte ^ key[index % 4]!));
  return Buffer.concat([Buffer.from([0x80 | OPCODE_TEXT, 0x80 | data.length]), key, masked]);
}

/** Whole frames off the front of `buffer`: their payloads (unmasked), and the bytes left over. */
function readFrames(buffer: Buffer): { payloads: string[]; rest: Buffer } {
  const payloads: string[] = [];
  let at = 0;
  while (buffer.length - at >= 2) {
    const masked = (buffer[at + 1]! & 0x80) !== 0;
    const length = buffer[at + 1]! & 0x7f;
    const start = at + 2 + (masked ? 4 : 0);
    if (buffer.length < start + length) break;
    const payload = buffer.subarray(start, start + length);
    const key = buffer.subarray(at + 2, at + 6);
    payloads.push(masked ? Buffer.from(payload.map((byte, index) => byte ^ key[index % 4]!)).toString() : payload.toString());
    at = start + length;
  }
  return { payloads, rest: buffer.subarray(at) };
}

interface EchoControls {
  /** Frames the echo server received, by connection. */
  readonly received: string[];
  open: number;
  /** Close the server's side after this many echoes (an upstream that goes away mid-stream). */
  closeAfter: number;
  /** The next handshake is answered 200, not 101. */
  decline: boolean;
}

/** An HTTP server that upgrades WebSocket handshakes and echoes each message back ("echo: ..."). */
async function startEchoBackend(): Promise<Backend & { controls: EchoControls }> {
  const controls: EchoControls = { received: [], open: 0, closeAfter: Infinity, decline: false };
  const backend = await startBackend('ws', (request, response) => {
    request.resume();
    response.end(`plain answer to ${request.headers.upgrade ?? 'no upgrade'}`);
  });
  backend.server.on('upgrade', (request: IncomingMessage, socket: Socket, head: Buffer) => {
    if (controls.decline) {
      socket.end('HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 11\r\nconnection: close\r\n\r\nnot today\r\n');
      return;
    }
    controls.open++;
    socket.once('close', () => controls.open--);
    socket.on('error', () => {});
    // As a WebSocket server does when the client's side ends: end ours too.
    socket.once('end', () => socket.end());
    const key = String(request.headers['sec-websocket-key']);
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptFor(key)}\r\nx-seen-upgrade: ${request.headers.upgrade}\r\n\r\n`);
    let pending: Buffer = head;
    let echoes = 0;
    const onBytes = (chunk: Buffer): void => {
      const { payloads, rest } = readFrames(Buffer.concat([pending, chunk]));
      pending = rest;
      for (const payload of payloads) {
        controls.received.push(payload);
        socket.write(frame(`echo: ${payload}`, false));
        if (++echoes >= controls.closeAfter) socket.destroy();
      }
    };
    onBytes(Buffer.alloc(0));
    socket.on('data', onBytes);
  });
  return Object.assign(backend, { controls });
}

interface WsClient {
  readonly socket: Socket;
  /** The response head as text. */
  readonly head: string;
  /** Bytes after the head (a body for non-101 answers). */
  readonly afterHead: () => string;
  send(text: string): void;
  /** The next `count` messages. */
  next(count?: number): Promise<string[]>;
  readonly closed: Promise<void>;
}

/** Opens a connection and sends a WebSocket handshake (plus `firstMessage` in the same write); resolves at the response head. */
function openWebSocket(port: number, path = '/chat', firstMessage?: string): Promise<WsClient> {
  return new Promise((resolve, reject) => {
    const key = randomBytes(16).toString('base64');
    const socket = connect(port, '127.0.0.1');
    let buffer: Buffer = Buffer.alloc(0);
    let head: string | undefined;
    const messages: string[] = [];
    let wake: (() => void) | undefined;
    const closed = new Promise<void>((done) => socket.once('close', () => {
      wake?.();
      done();
    }));
    socket.on('error', () => {});
    socket.once('close', () => head === undefined && reject(new Error(`closed before a head: ${buffer.toString('latin1')}`)));
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      if (head === undefined) {
        const end = buffer.indexOf('\r\n\r\n');
        if (end === -1) return;
        head = buffer.subarray(0, end).toString('latin1');
        buffer = buffer.subarray(end + 4);
        if (/^HTTP\/1\.1 101 /.test(head)) assert.match(head, new RegExp(`sec-websocket-accept: ${acceptFor(key).replace(/[+/=]/g, '\\$&')}`, 'i'));
        resolve(client);
      }
      if (!/^HTTP\/1\.1 101 /.test(head)) return;
      const { payloads, rest } = readFrames(buffer);
      buffer = rest;
      messages.push(...payloads);
      wake?.();
    });
    const client: WsClient = {
      socket,
      get head() {
        return head ?? '';
      },
      afterHead: () => buffer.toString('latin1'),
      send: (text) => void socket.write(frame(text, true)),
      next: async (count = 1) => {
        // Bounded by the test's timeout; each wake is a message or the close.
        while (messages.length < count && !socket.destroyed) await new Promise<void>((done) => (wake = done));
        assert.ok(messages.length >= count, `connection closed with ${messages.length} of ${count} messages`);
        return messages.splice(0, count);
      },
      closed,
    };
    socket.once('connect', () => {
      const handshake = `GET ${path} HTTP/1.1\r\nHost: chat.example\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`;
      socket.write(firstMessage === undefined ? Buffer.from(handshake) : Buffer.concat([Buffer.from(handshake), frame(firstMessage, true)]));
    });
  });
}

async function gaugeValue(gateway: Awaited<ReturnType<typeof startGateway>>): Promise<number> {
  const metric = await gateway.metrics.upgradedConnections.get();
  return metric.values[0]?.value ?? 0;
}

for (const engine of ['fast', 'node'] as const) {
  test(`WebSocket (${engine} engine): the handshake is routed and spliced; messages echo both ways; counted while open; a client close closes the upstream`, async (t) => {
    const backend = await startEchoBackend();
    const gateway = await startGateway({ ...simpleConfig([backend.address]), listeners: [{ port: 0, engine }] });
    t.after(() => closeAll(gateway, backend));
    const port = gateway.ports[0]!;
    const ws = await openWebSocket(port, '/chat', 'early');
    assert.match(ws.head, /^HTTP\/1\.1 101 /);
    assert.match(ws.head, /\r\nupgrade: websocket/i);
    assert.match(ws.head, /\r\nconnection: upgrade/i);
    assert.match(ws.head, /\r\nvia: 1\.1 keel-gateway/i);
    assert.match(ws.head, /\r\nx-seen-upgrade: websocket/i, 'the upstream got the Upgrade field');
    assert.deepEqual(await ws.next(), ['echo: early'], 'a frame sent with the handshake is relayed');
    for (const text of ['one', 'two', 'three']) ws.send(text);
    assert.deepEqual(await ws.next(3), ['echo: one', 'echo: two', 'echo: three']);
    assert.equal(await gaugeValue(gateway), 1);
    assert.equal(backend.controls.open, 1);
    const inflightAtEndpoint = () => (gateway.describe().clusters as Array<{ endpoints: Array<{ inflight: number }> }>)[0]!.endpoints[0]!.inflight;
    assert.equal(inflightAtEndpoint(), 1, 'an open tunnel counts as in flight at its endpoint');
    const upgrades = await gateway.metrics.upgrades.get();
    assert.deepEqual(upgrades.values.map((value) => [value.labels.result, value.value]), [['switched', 1]]);
    ws.socket.end();
    await ws.closed;
    await eventually(() => backend.controls.open === 0, 20_000, 'the upstream side to close');
    await eventually(async () => (await gaugeValue(gateway)) === 0, 20_000, 'the gauge to drop');
    assert.equal(gateway.describe().inflight, 0);
    assert.equal(inflightAtEndpoint(), 0, 'the tunnel no longer counts as in flight at its endpoint');
  });

  test(`WebSocket (${engine} engine): an upstream that answers 200 is relayed as a normal response and the connection closes; an upstream that closes mid-stream closes the client`, async (t) => {
    const backend = await startEchoBackend();
    const gateway = await startGateway({ ...simpleConfig([backend.address]), listeners: [{ port: 0, engine }] });
    t.after(() => closeAll(gateway, backend));
    const port = gateway.ports[0]!;
    backend.controls.decline = true;
    const declined = await openWebSocket(port);
    await declined.closed;
    assert.match(declined.head, /^HTTP\/1\.1 200 /);
    assert.match(declined.head, /\r\nconnection: close/i);
    assert.equal(declined.afterHead(), 'not today\r\n');
    backend.controls.decline = false;
    backend.controls.closeAfter = 1;
    const cut = await openWebSocket(port);
    assert.match(cut.head, /^HTTP\/1\.1 101 /);
    cut.send('last');
    assert.deepEqual(await cut.next(), ['echo: last'], 'bytes before the close still arrive');
    await cut.closed;
    await eventually(async () => (await gaugeValue(gateway)) === 0, 20_000, 'the gauge to drop');
    const upgrades = await gateway.metrics.upgrades.get();
    assert.deepEqual(upgrades.values.map((value) => [value.labels.result, value.value]).sort(), [['declined', 1], ['switched', 1]]);
    const endpointInflight = () => (gateway.describe().clusters as Array<{ endpoints: Array<{ inflight: number }> }>)[0]!.endpoints[0]!.inflight;
    await eventually(() => endpointInflight() === 0, 20_000, 'the endpoint to count nothing in flight (the declined answer and the closed tunnel)');
  });
}

test('WebSocket: an endpoint without WebSocket support answers the handshake as a plain request (relayed, then closed)', async (t) => {
  const backend = await startBackend('plain', (request, response) => {
    request.resume();
    response.writeHead(426, { 'content-type': 'text/plain' });
    response.end(`no ${request.headers.upgrade}`);
  });
  const gateway = await startGateway(simpleConfig([backend.address]));
  t.after(() => closeAll(gateway, backend));
  const reply = await openWebSocket(gateway.ports[0]!);
  await reply.closed;
  assert.match(reply.head, /^HTTP\/1\.1 426 /);
  assert.match(reply.afterHead(), /no websocket/);
});

test('WebSocket: handshakes pass the rate limits (a refusal is answered and the connection closed); tunnels close after upgradeIdleTimeoutMs of silence and when a drain period ends', async (t) => {
  const backend = await startEchoBackend();
  const gateway = await startGateway({
    ...simpleConfig([backend.address]),
    rateLimits: [{ name: 'two', descriptor: { global: true }, algorithm: 'token-bucket', limit: 2, windowMs: 3_600_000 }],
    limits: { upgradeIdleTimeoutMs: 300, drainTimeoutMs: 300 },
  });
  t.after(() => closeAll(gateway, backend));
  const port = gateway.ports[0]!;
  const idle = await openWebSocket(port);
  assert.match(idle.head, /^HTTP\/1\.1 101 /);
  idle.send('hello');
  assert.deepEqual(await idle.next(), ['echo: hello']);
  // nothing more is sent: the idle timeout closes both sides
  await idle.closed;
  await eventually(() => backend.controls.open === 0, 20_000, 'the idle tunnel\'s upstream side to close');
  const held = await openWebSocket(port);
  assert.match(held.head, /^HTTP\/1\.1 101 /);
  const refused = await openWebSocket(port);
  await refused.closed;
  assert.match(refused.head, /^HTTP\/1\.1 429 /);
  assert.match(refused.head, /keel-reject-reason: rate-limited/);
  assert.match(refused.head, /connection: close/i);
  // Keep the held tunnel busy so only the drain can end it.
  const chatter = setInterval(() => held.send('still here'), 20);
  t.after(() => clearInterval(chatter));
  const drained = gateway.drain();
  held.send('during the drain');
  // the tunnel carries on during the drain period (bounded: next() fails once the connection closes)
  while ((await held.next())[0] !== 'echo: during the drain');
  await drained;
  await held.closed;
  clearInterval(chatter);
  await eventually(() => backend.controls.open === 0, 20_000, 'the drained tunnel\'s upstream side to close');
});

test('WebSocket: an Upgrade routed to an h2c cluster is answered as a plain request, the Upgrade ignored (RFC 9110 §7.8)', async (t) => {
  const h2c = createH2cServer((request, response) => {
    response.writeHead(200, { 'content-type': 'text/plain' });
    response.end(`h2 answer, upgrade=${String(request.headers.upgrade)}`);
  });
  await new Promise<void>((resolve) => h2c.listen(0, '127.0.0.1', resolve));
  const gateway = await startGateway({ ...simpleConfig([`127.0.0.1:${(h2c.address() as AddressInfo).port}`], { protocol: 'h2c' }) });
  t.after(async () => {
    await gateway.close();
    await new Promise<void>((resolve) => h2c.close(() => resolve()));
  });
  const reply = await openWebSocket(gateway.ports[0]!);
  await reply.closed;
  assert.match(reply.head, /^HTTP\/1\.1 200 /);
  assert.match(reply.head, /connection: close/i);
  assert.match(reply.afterHead(), /h2 answer, upgrade=undefined/);
});
