import type { AddressInfo } from 'node:net';
import { createServer } from 'node:net';
import { SeededRandom } from '../../src/raft/random.js';
import { message, MessageType, type Message, type NodeId } from '../../src/raft/types.js';
import { PeerTransport, type TransportOptions } from '../../src/transport/index.js';
import { NETWORK_MESSAGE_TYPES } from '../../src/transport/codec.js';

const bytes = (...values: number[]): Uint8Array => new Uint8Array(values);

/** Collects delivered messages and lets a test await a condition on them (resolved from the deliver callback, no polling). */
export class Inbox {
  readonly messages: Message[] = [];
  #waiters: { predicate: (messages: Message[]) => boolean; resolve: () => void }[] = [];

  readonly deliver = (m: Message): void => {
    this.messages.push(m);
    this.#waiters = this.#waiters.filter((waiter) => {
      if (!waiter.predicate(this.messages)) return true;
      waiter.resolve();
      return false;
    });
  };

  until(predicate: (messages: Message[]) => boolean): Promise<void> {
    if (predicate(this.messages)) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ predicate, resolve }));
  }

  count(n: number): Promise<void> {
    return this.until((messages) => messages.length >= n);
  }
}

/** A callback recorder: `next(predicate)` resolves at the first (past or future) call matching it. */
export class Events<T> {
  readonly calls: T[] = [];
  #waiters: { predicate: (call: T) => boolean; resolve: (call: T) => void }[] = [];
  readonly record = (call: T): void => {
    this.calls.push(call);
    this.#waiters = this.#waiters.filter((waiter) => {
      if (!waiter.predicate(call)) return true;
      waiter.resolve(call);
      return false;
    });
  };

  /** Resolves at the next matching call after now. */
  next(predicate: (call: T) => boolean = () => true): Promise<T> {
    return new Promise((resolve) => this.#waiters.push({ predicate, resolve }));
  }

  /** Resolves at the first matching call, past or future. */
  some(predicate: (call: T) => boolean = () => true): Promise<T> {
    const past = this.calls.find(predicate);
    return past !== undefined ? Promise.resolve(past) : this.next(predicate);
  }
}

export interface TestNode {
  readonly id: NodeId;
  readonly transport: PeerTransport;
  readonly inbox: Inbox;
  readonly unreachable: Events<NodeId>;
  readonly snapshotStatus: Events<{ peer: NodeId; failed: boolean }>;
  readonly roundTrips: Events<{ peer: NodeId; seconds: number }>;
  port: number;
}

/** A transport on 127.0.0.1 with fast reconnects and a seeded random source. */
export function makeNode(id: NodeId, options: Partial<TransportOptions> = {}): TestNode {
  const inbox = new Inbox();
  const unreachable = new Events<NodeId>();
  const snapshotStatus = new Events<{ peer: NodeId; failed: boolean }>();
  const roundTrips = new Events<{ peer: NodeId; seconds: number }>();
  const transport = new PeerTransport({
    id,
    listenHost: '127.0.0.1',
    listenPort: 0,
    peers: {},
    deliver: inbox.deliver,
    onUnreachable: unreachable.record,
    onSnapshotStatus: (peer, failed) => snapshotStatus.record({ peer, failed }),
    onRoundTrip: (peer, seconds) => roundTrips.record({ peer, seconds }),
    random: new SeededRandom(7),
    reconnectDelayMsMin: 5,
    reconnectDelayMsMax: 50,
    clusterId: 'test',
    ...options,
  });
  return { id, transport, inbox, unreachable, snapshotStatus, roundTrips, port: 0 };
}

/** Listens on every node, then tells each about all the others. */
export async function connectAll(nodes: TestNode[]): Promise<void> {
  for (const node of nodes) node.port = (await node.transport.listen()).port;
  for (const node of nodes) {
    for (const other of nodes) if (other !== node) node.transport.setPeer(other.id, `127.0.0.1:${other.port}`);
  }
}

export async function closeAll(nodes: TestNode[]): Promise<void> {
  await Promise.all(nodes.map((node) => node.transport.close()));
}

/** A port nothing listens on (bound, then released). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export function heartbeat(from: NodeId, to: NodeId, commit: number): Message {
  return message({ type: MessageType.Heartbeat, from, to, term: 1, commit });
}

/**
 * Resolves once `condition` holds, checking on each turn of the event loop
 * (for counters that have no event), for at most `waitMsMax`: bounded by
 * time, since idle turns can pass faster than a timer the condition waits on.
 */
export async function eventually(condition: () => boolean, what: string, waitMsMax = 10_000): Promise<void> {
  const deadline = performance.now() + waitMsMax;
  while (performance.now() < deadline) {
    if (condition()) return;
    await new Promise((resolve) => setImmediate(resolve));
  }
  if (condition()) return;
  throw new Error(`never: ${what}`);
}

/** One message of every network type, with every binary field set and numbers beyond 32 bits. */
export function sampleMessages(from: string, to: string): Message[] {
  const big = 2 ** 52 + 3;
  return [...NETWORK_MESSAGE_TYPES].map((type, i) =>
    message({
      type: type as Message['type'], from, to, term: big + i, logTerm: i, index: big, commit: 7, reject: i % 2 === 1, rejectHint: i, logTermHint: 2 * i,
      entries: type === MessageType.Append || type === MessageType.Propose
        ? [{ term: 1, index: big, type: 0, data: bytes(0, 1, 255, i) }, { term: 2, index: 9, type: 1, data: new Uint8Array(0) }]
        : [],
      ...(type === MessageType.ReadIndex || type === MessageType.Heartbeat ? { context: bytes(9, 8, 7) } : {}),
    }),
  );
}

