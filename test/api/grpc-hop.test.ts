import { strict as assert } from 'node:assert';
import { once } from 'node:events';
import { connect, createServer } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';
import { Transform } from 'node:stream';
import type { Duplex, TransformCallback } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { GrpcHop } from '../../src/api/grpc-hop.js';
import type { GrpcHopEnd } from '../../src/api/grpc-hop.js';
import type { Logger } from '../../src/node/logger.js';

/**
 * The client port's loopback hop (src/api/grpc-hop.ts) between real sockets
 * on 127.0.0.1: an outside client connects to a front server whose sockets
 * are made like the client port's (Node's default, not half-open), the hop
 * pipes each one to a backend server standing in for grpc-js. Each wait is
 * on an event, bounded so a broken hop fails the test instead of hanging it.
 */

const WAIT_MS = 10_000;
/** Socket events a hop listens to. */
const WATCHED_EVENTS = ['data', 'end', 'finish', 'close', 'error'] as const;
/** Bigger than loopback's socket buffers, so the lingering direction must drain under backpressure. */
const BIG = Buffer.alloc(4 * 1024 * 1024, 'keel-hop-');

interface LogRecord {
  readonly level: keyof Logger;
  readonly message: string;
  readonly fields: Record<string, unknown> | undefined;
}

/** One outside client, piped by one hop to one backend socket. */
interface Hopped {
  /** The outside client's socket (half-open, so it can read after its own end). */
  readonly client: Socket;
  /** The front server's socket for the client (the hop's client side). */
  readonly front: Socket;
  /** The hop's socket towards the backend. */
  readonly upstream: Socket;
  /** The backend's socket for the hop (half-open, as grpc-js's server is). */
  readonly backend: Socket;
  readonly hop: GrpcHop;
  /** Every onEnd call, in order. */
  readonly ends: GrpcHopEnd[];
  /** The first onEnd. */
  readonly ended: Promise<GrpcHopEnd>;
  /** Listeners on the hop's two sockets before the hop was made, by event (Node's own and the rig's). */
  readonly listenersBefore: Record<string, number>;
}

interface RigOptions {
  readonly lingerMs?: number;
  readonly inbound?: () => Duplex;
}

class Rig {
  readonly records: LogRecord[] = [];
  readonly #front: Server;
  readonly #backend: Server;
  readonly #sockets = new Set<Socket>();
  #options: RigOptions = {};
  #onHop: ((parts: Omit<Hopped, 'client' | 'backend'>) => void) | undefined;

  private constructor(front: Server, backend: Server) {
    this.#front = front;
    this.#backend = backend;
  }

  static async start(): Promise<Rig> {
    const backend = createServer({ allowHalfOpen: true });
    // Like the client port's listener: Node's default sockets, which end their side when the peer ends.
    const front = createServer({ noDelay: true });
    const rig = new Rig(front, backend);
    front.on('connection', (socket: Socket) => rig.#hop(socket));
    backend.on('connection', (socket: Socket) => rig.#track(socket));
    await Promise.all([listen(front), listen(backend)]);
    return rig;
  }

  /** Options for the hops of the next connects. */
  use(options: RigOptions): void {
    this.#options = options;
  }

  async connect(): Promise<Hopped> {
    assert.equal(this.#onHop, undefined, 'one connect at a time');
    const parts = new Promise<Omit<Hopped, 'client' | 'backend'>>((resolve) => (this.#onHop = resolve));
    const accepted = once(this.#backend, 'connection') as Promise<[Socket]>;
    const client = this.#track(connect({ port: port(this.#front), host: '127.0.0.1', allowHalfOpen: true }));
    const [hopped, [backend]] = await within(Promise.all([parts, accepted]), 'the hop to connect');
    this.#onHop = undefined;
    return { ...hopped, client, backend };
  }

  logged(level: keyof Logger): LogRecord[] {
    return this.records.filter((record) => record.level === level);
  }

  async connections(): Promise<{ front: number; backend: number }> {
    const count = (server: Server): Promise<number> => new Promise((resolve, reject) => server.getConnections((error, n) => (error ? reject(error) : resolve(n))));
    return { front: await count(this.#front), backend: await count(this.#backend) };
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await Promise.all([new Promise((resolve) => this.#front.close(resolve)), new Promise((resolve) => this.#backend.close(resolve))]);
  }

  #hop(front: Socket): void {
    this.#track(front);
    const upstream = this.#track(connect({ port: port(this.#backend), host: '127.0.0.1', noDelay: true }));
    const ends: GrpcHopEnd[] = [];
    let resolveEnded!: (end: GrpcHopEnd) => void;
    const ended = new Promise<GrpcHopEnd>((resolve) => (resolveEnded = resolve));
    const log = collectingLogger(this.records);
    const inbound = this.#options.inbound?.();
    const listenersBefore = Object.fromEntries(WATCHED_EVENTS.map((event) => [event, front.listenerCount(event) + upstream.listenerCount(event)]));
    const hop = new GrpcHop(front, upstream, {
      log,
      ...(inbound ? { inbound } : {}),
      ...(this.#options.lingerMs !== undefined ? { lingerMs: this.#options.lingerMs } : {}),
      onEnd: (end) => {
        ends.push(end);
        resolveEnded(end);
      },
    });
    this.#onHop?.({ front, upstream, hop, ends, ended, listenersBefore });
  }

  #track(socket: Socket): Socket {
    this.#sockets.add(socket);
    // Tests reset sockets on purpose; the assertions look at what each side saw, not at stray EPIPEs.
    socket.on('error', () => {});
    socket.once('close', () => this.#sockets.delete(socket));
    return socket;
  }
}

function collectingLogger(records: LogRecord[]): Logger {
  const at = (level: keyof Logger) => (message: string, fields?: Record<string, unknown>) => void records.push({ level, message, fields });
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

async function listen(server: Server): Promise<void> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
}

function port(server: Server): number {
  return (server.address() as AddressInfo).port;
}

async function within<T>(promise: Promise<T>, what: string, ms = WAIT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** Everything a socket receives until its peer's FIN; rejects if it closes or fails first. */
function readToEnd(socket: Socket): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.once('end', () => resolve(Buffer.concat(chunks)));
    socket.once('error', reject);
    socket.once('close', () => reject(new Error(`closed before its peer's FIN, after ${Buffer.concat(chunks).length} bytes`)));
  });
}

/** Everything a socket receives until its peer goes away, by a FIN or otherwise. */
function readUntilGone(socket: Socket): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.once('end', () => resolve(Buffer.concat(chunks)));
    socket.once('close', () => resolve(Buffer.concat(chunks)));
  });
}

function closed(socket: Socket): Promise<void> {
  return socket.closed ? Promise.resolve() : once(socket, 'close').then(() => undefined);
}

/** The peer went away: its FIN arrived or the socket closed (an outer socket is half-open, so a FIN alone does not close it). */
function wentAway(socket: Socket): Promise<void> {
  if (socket.readableEnded || socket.closed) return Promise.resolve();
  return new Promise((resolve) => {
    socket.once('end', () => resolve());
    socket.once('close', () => resolve());
    socket.resume();
  });
}

function activeTimeouts(): number {
  return process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length;
}

describe('the gRPC loopback hop', () => {
  let rig: Rig;
  before(async () => {
    rig = await Rig.start();
  });
  after(async () => {
    await rig?.close();
  });

  it('delivers what the upstream sends after the client half-closed, every byte of it', async () => {
    rig.use({ lingerMs: 60_000 });
    const { client, backend, ended } = await rig.connect();
    const backendGot = readToEnd(backend);
    const clientGot = readToEnd(client);
    client.end('request');
    // The backend answers only once the client's FIN reached it, as a server finishing its last stream does.
    assert.equal((await within(backendGot, 'the request and FIN at the backend')).toString(), 'request');
    backend.end(BIG);
    assert.ok((await within(clientGot, 'the answer at the client')).equals(BIG), 'the client got the whole answer');
    assert.equal(await within(ended, 'the hop to end'), 'drained');
  });

  it('keeps the client-to-upstream direction flowing after the upstream ended its side', async () => {
    rig.use({ lingerMs: 60_000 });
    const { client, backend, ended } = await rig.connect();
    const backendGot = readToEnd(backend);
    const clientGot = readToEnd(client);
    backend.end('goaway');
    assert.equal((await within(clientGot, "the backend's FIN at the client")).toString(), 'goaway');
    client.end(BIG);
    assert.ok((await within(backendGot, "the client's bytes at the backend")).equals(BIG), 'the backend got every byte sent after its own FIN');
    assert.equal(await within(ended, 'the hop to end'), 'drained');
  });

  it('destroys both sockets once both directions finished, without waiting for the linger', async () => {
    rig.use({ lingerMs: 60_000 });
    const { client, front, upstream, backend, ends, ended } = await rig.connect();
    const clientGot = readToEnd(client);
    const backendGot = readToEnd(backend);
    client.end('from client');
    backend.end('from backend');
    assert.equal((await within(clientGot, 'the client to read to the end')).toString(), 'from backend');
    assert.equal((await within(backendGot, 'the backend to read to the end')).toString(), 'from client');
    // Bounded far below the 60 s linger: only both directions finishing can end the hop in time.
    assert.equal(await within(ended, 'the hop to end'), 'drained');
    await within(Promise.all([closed(front), closed(upstream)]), "the hop's sockets to close");
    assert.ok(front.destroyed && upstream.destroyed);
    assert.deepEqual(ends, ['drained']);
  });

  it('cuts a half-open pair after the linger, having passed on what came meanwhile', async () => {
    rig.use({ lingerMs: 200 });
    const { client, backend, ended } = await rig.connect();
    const backendGot = readToEnd(backend);
    const clientGot = readUntilGone(client);
    client.end('request');
    await within(backendGot, "the client's FIN at the backend");
    // The backend answers but never ends its side.
    backend.write('late answer');
    assert.equal(await within(ended, 'the linger to end the hop'), 'linger');
    assert.equal((await within(clientGot, 'the hop to go, at the client')).toString(), 'late answer');
    await within(wentAway(backend), 'the backend to see the hop go');
    assert.equal(rig.logged('debug').filter((record) => record.message.includes('linger')).length >= 1, true);
  });

  it('destroys the other side at once when one side fails, and logs it', async (t) => {
    await t.test('a client that resets', async () => {
      rig.use({ lingerMs: 60_000 });
      const before = rig.records.length;
      const { client, backend, ended } = await rig.connect();
      const arrived = once(backend, 'data');
      client.write('hello');
      await within(arrived, 'the first bytes at the backend');
      client.resetAndDestroy();
      assert.equal(await within(ended, 'the hop to end'), 'error');
      await within(wentAway(backend), 'the backend to see the hop go');
      const logged = rig.records.slice(before);
      assert.deepEqual(logged.map((record) => [record.level, record.fields?.side, record.fields?.code]), [['debug', 'client', 'ECONNRESET']]);
    });
    await t.test('an upstream that resets', async () => {
      rig.use({ lingerMs: 60_000 });
      const before = rig.records.length;
      const { client, backend, ended } = await rig.connect();
      const clientSaw = readUntilGone(client);
      backend.resetAndDestroy();
      assert.equal(await within(ended, 'the hop to end'), 'error');
      await within(clientSaw, 'the client to see the hop go');
      assert.deepEqual(rig.records.slice(before).map((record) => [record.level, record.fields?.side, record.fields?.code]), [['debug', 'upstream', 'ECONNRESET']]);
    });
    await t.test('a transform between them that fails', async () => {
      rig.use({ lingerMs: 60_000, inbound: () => new Refusing('poison') });
      const before = rig.records.length;
      const { client, backend, ended } = await rig.connect();
      const clientSaw = readUntilGone(client);
      client.write('poison');
      assert.equal(await within(ended, 'the hop to end'), 'error');
      await within(Promise.all([clientSaw, wentAway(backend)]), 'both outer sockets to see the hop go');
      const logged = rig.records.slice(before);
      assert.deepEqual(logged.map((record) => [record.level, record.fields?.side, record.fields?.error]), [['warn', 'inbound', 'refused poison']]);
    });
  });

  it('leaks no socket, timer or listener over many hops, however each ends', async (t) => {
    // A rig of its own, so the connection counts see only these hops.
    const rig = await Rig.start();
    t.after(() => rig.close());
    const timeoutsBefore = activeTimeouts();
    const hops: Hopped[] = [];
    for (let index = 0; index < 24; index++) {
      rig.use({ lingerMs: 50 });
      const hopped = await rig.connect();
      hops.push(hopped);
      const { client, backend, hop } = hopped;
      switch (index % 4) {
        case 0: // both end
          void readUntilGone(client);
          void readUntilGone(backend);
          client.end('x');
          backend.end('y');
          break;
        case 1: // half-open until the linger
          void readUntilGone(client);
          void readUntilGone(backend);
          client.end('x');
          break;
        case 2: // a reset
          client.resetAndDestroy();
          break;
        default: // the client port shutting down
          hop.destroy();
      }
      await within(hopped.ended, `hop ${index} to end`);
      // The outer sockets are half-open stand-ins for the client and grpc-js: they close when told to.
      client.destroy();
      backend.destroy();
    }
    await within(
      (async () => {
        for (;;) {
          const open = await rig.connections();
          if (open.front === 0 && open.backend === 0) return;
          await new Promise((resolve) => setImmediate(resolve));
        }
      })(),
      'every connection to close',
    );
    for (const [index, { ends, front, upstream, listenersBefore }] of hops.entries()) {
      assert.equal(ends.length, 1, `hop ${index} ended once (${ends.join(', ')})`);
      assert.ok(front.destroyed && upstream.destroyed, `hop ${index} destroyed both sockets`);
      // 'error' is left out: a hop leaves a no-op there on purpose, so a late error on a destroyed socket is not uncaught.
      for (const event of WATCHED_EVENTS.filter((name) => name !== 'error')) {
        const after = front.listenerCount(event) + upstream.listenerCount(event);
        assert.ok(after <= listenersBefore[event]!, `hop ${index} left listeners on '${event}': ${after} after, ${listenersBefore[event]} before`);
      }
    }
    assert.deepEqual(
      hops.map((hopped) => hopped.ends[0]),
      Array.from({ length: 24 }, (_, index) => (['drained', 'linger', 'error', 'destroyed'] as const)[index % 4]),
    );
    assert.ok(activeTimeouts() <= timeoutsBefore, 'no linger timer outlives its hop');
  });
});

/** A transform that fails on a marker, as the :authority rewriter does on a malformed HPACK block. */
class Refusing extends Transform {
  readonly #marker: string;
  constructor(marker: string) {
    super();
    this.#marker = marker;
  }
  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (chunk.toString().includes(this.#marker)) callback(new Error(`refused ${this.#marker}`));
    else callback(null, chunk);
  }
}
