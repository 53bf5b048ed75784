/**
 * Peer transport over loopback, one process: small-message throughput
 * (heartbeats and 256-byte Appends, sent in batches of 1000 per tick, as a
 * leader's Readies would) and snapshot streaming MB/s. The anchor is a raw
 * TCP socket on the same loopback carrying the same number of bytes with no
 * framing or encoding: the ceiling any transport could reach here.
 * Usage: npx tsx bench/transport.ts [messages=200000] [snapshotMiB=256]
 */
import { once } from 'node:events';
import { connect, createServer, type AddressInfo } from 'node:net';
import { message, MessageType, type Message } from '../src/raft/types.js';
import { PeerTransport } from '../src/transport/index.js';

const messagesTotal = Number(process.argv[2] ?? 200_000);
const snapshotMiB = Number(process.argv[3] ?? 256);
const BATCH = 1000;

async function pair(onMessage: (m: Message) => void): Promise<{ a: PeerTransport; b: PeerTransport }> {
  const common = { listenHost: '127.0.0.1', listenPort: 0, peers: {}, queueMessagesMax: 100_000, clusterId: 'bench' };
  const a = new PeerTransport({ ...common, id: 'a', deliver: () => {} });
  const b = new PeerTransport({ ...common, id: 'b', deliver: onMessage });
  const portA = (await a.listen()).port;
  const portB = (await b.listen()).port;
  a.setPeer('b', `127.0.0.1:${portB}`);
  b.setPeer('a', `127.0.0.1:${portA}`);
  return { a, b };
}

async function transportRun(build: (i: number) => Message, count: number, onDone?: () => void): Promise<{ seconds: number; bytes: number }> {
  let received = 0;
  let finish!: () => void;
  const done = new Promise<void>((resolve) => (finish = resolve));
  const { a, b } = await pair(() => {
    if (++received === count) finish();
  });
  const start = process.hrtime.bigint();
  for (let sent = 0; sent < count; ) {
    for (const end = Math.min(count, sent + BATCH); sent < end; sent++) a.send(build(sent));
    // One batch per tick, as Readies arrive; yields so the socket drains.
    if (a.stats().get('b')!.queuedMessages > 50_000) await new Promise((resolve) => setTimeout(resolve, 1));
    else await new Promise((resolve) => setImmediate(resolve));
  }
  await done;
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const bytes = a.stats().get('b')!.sentBytes;
  const dropped = a.stats().get('b')!.droppedMessages;
  if (dropped > 0) throw new Error(`${dropped} dropped`);
  onDone?.();
  await Promise.all([a.close(), b.close()]);
  return { seconds, bytes };
}

/** Raw TCP: `bytes` written in 64 KiB writes, timed until the receiver has read them all. */
async function rawRun(bytes: number): Promise<number> {
  let received = 0;
  let finish!: () => void;
  const done = new Promise<void>((resolve) => (finish = resolve));
  const server = createServer((socket) => socket.on('data', (data: Buffer) => {
    received += data.length;
    if (received >= bytes) finish();
  }));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const socket = connect({ host: '127.0.0.1', port: (server.address() as AddressInfo).port });
  await once(socket, 'connect');
  const block = Buffer.alloc(64 * 1024, 7);
  const start = process.hrtime.bigint();
  for (let written = 0; written < bytes; written += block.length) {
    if (!socket.write(block.subarray(0, Math.min(block.length, bytes - written)))) await once(socket, 'drain');
  }
  await done;
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  socket.destroy();
  server.close();
  return seconds;
}

const row = (name: string, keel: string, anchor: string, ratio: number): void =>
  console.log(`| ${name.padEnd(34)} | ${keel.padStart(18)} | ${anchor.padStart(18)} | ${ratio.toFixed(2).padStart(5)} |`);

console.log(`node ${process.version}, loopback; anchor: raw TCP socket, same byte count`);
console.log(`| ${'case'.padEnd(34)} | ${'keel transport'.padStart(18)} | ${'raw TCP'.padStart(18)} | ratio |`);
console.log(`|${'-'.repeat(36)}|${'-'.repeat(20)}|${'-'.repeat(20)}|-------|`);

const heartbeats = await transportRun((i) => message({ type: MessageType.Heartbeat, from: 'a', to: 'b', term: 3, commit: i }), messagesTotal);
const rawHeartbeats = await rawRun(heartbeats.bytes);
row(`heartbeats (${heartbeats.bytes / messagesTotal | 0} B framed)`, `${(messagesTotal / heartbeats.seconds / 1000).toFixed(0)} k msg/s`, `${(messagesTotal / rawHeartbeats / 1000).toFixed(0)} k msg/s`, rawHeartbeats / heartbeats.seconds);

const data = new Uint8Array(256).fill(1);
const appends = await transportRun((i) => message({ type: MessageType.Append, from: 'a', to: 'b', term: 3, index: i, entries: [{ term: 3, index: i + 1, type: 0, data }] }), messagesTotal);
const rawAppends = await rawRun(appends.bytes);
row('appends, one 256 B entry each', `${(messagesTotal / appends.seconds / 1000).toFixed(0)} k msg/s`, `${(messagesTotal / rawAppends / 1000).toFixed(0)} k msg/s`, rawAppends / appends.seconds);

const snapshotBytes = snapshotMiB * 1024 * 1024;
const snapshot = { metadata: { index: 1, term: 1, confState: { voters: ['a', 'b'], learners: [] } }, data: new Uint8Array(snapshotBytes).fill(3) };
const streamed = await transportRun(() => message({ type: MessageType.Snapshot, from: 'a', to: 'b', snapshot }), 1);
const rawSnapshot = await rawRun(snapshotBytes);
const mbps = (seconds: number): string => `${(snapshotBytes / seconds / 1e6).toFixed(0)} MB/s`;
row(`snapshot ${snapshotMiB} MiB (1 MiB chunks)`, mbps(streamed.seconds), mbps(rawSnapshot), rawSnapshot / streamed.seconds);
