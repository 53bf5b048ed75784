import { strict as assert } from 'node:assert';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from '../node/logger.js';
import { GRPC_HOP_LINGER_MS } from './limits.js';

/**
 * The byte pipe between a gRPC client's socket and the loopback socket to
 * the in-process grpc-js server (client-port.ts says why that hop exists).
 *
 * TCP closes each direction on its own: a peer's FIN only says it will send
 * no more, and what the other side still has to send must go on arriving.
 * So the hop never treats one side's end as the connection's end:
 *
 * - a side that ends its sending (its readable half ends) gets its bytes
 *   drained to the other side, which then gets `end()`: our FIN follows the
 *   peer's, after the last byte;
 * - the other direction keeps flowing, bytes and backpressure included,
 *   until its sender ends too;
 * - once both directions finished (the FIN was sent each way), both sockets
 *   are destroyed;
 * - a direction still open `lingerMs` after the first end is cut: the pair
 *   is destroyed, so a peer that never finishes cannot hold it forever;
 * - an error on either socket (or on the transform between them) destroys
 *   both at once, and a socket destroyed from elsewhere takes the other
 *   with it: a hop never leaves one socket open behind a dead partner.
 *
 * Both sockets are made half-open (`allowHalfOpen`): Node's default answers
 * a peer's FIN by ending our own sending half at once, which drops what the
 * other side still had to send.
 */

/** How a hop ended. */
export type GrpcHopEnd =
  /** Both directions finished: every byte went through, each FIN was passed on. */
  | 'drained'
  /** One direction ended and the other did not finish within the linger bound. */
  | 'linger'
  /** A socket, or the transform between them, failed. */
  | 'error'
  /** A socket was destroyed before both directions finished (by `destroy()` or by other code). */
  | 'destroyed';

export interface GrpcHopOptions {
  /** Why a hop's sockets went away is worth a debug line; a failure a warning. */
  readonly log: Logger;
  /**
   * Sits between the client's bytes and the upstream socket (client-port's
   * :authority rewriter). Its end is passed on like the client's FIN. None:
   * bytes go as they are.
   */
  readonly inbound?: Duplex;
  /** See GRPC_HOP_LINGER_MS; tests shorten it. */
  readonly lingerMs?: number;
  /** Called once, after both sockets were destroyed. */
  readonly onEnd?: (end: GrpcHopEnd) => void;
}

/** Operating-system errors a client that goes away causes: routine, so only a debug line. */
const ROUTINE_ERROR_CODES: ReadonlySet<string> = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'ETIMEDOUT', 'ECONNREFUSED']);

export class GrpcHop {
  readonly #client: Socket;
  readonly #upstream: Socket;
  readonly #inbound: Duplex | undefined;
  readonly #log: Logger;
  readonly #lingerMs: number;
  readonly #onEnd: ((end: GrpcHopEnd) => void) | undefined;
  /** The client's address, taken while the socket is open (a destroyed socket has none). */
  readonly #clientAddress: string;
  #lingerTimer: NodeJS.Timeout | undefined;
  #end: GrpcHopEnd | undefined;
  /** Listeners this hop added, removed at its end so sockets handed elsewhere (metrics) keep only their own. */
  readonly #detach: (() => void)[] = [];

  /** Starts piping; the client socket is resumed. */
  constructor(client: Socket, upstream: Socket, options: GrpcHopOptions) {
    const lingerMs = options.lingerMs ?? GRPC_HOP_LINGER_MS;
    assert(Number.isFinite(lingerMs) && lingerMs >= 0, `lingerMs must be a finite non-negative number, got ${lingerMs}`);
    this.#client = client;
    this.#upstream = upstream;
    this.#inbound = options.inbound;
    this.#log = options.log;
    this.#lingerMs = lingerMs;
    this.#onEnd = options.onEnd;
    this.#clientAddress = `${client.remoteAddress ?? 'unknown'}:${client.remotePort ?? ''}`;
    client.allowHalfOpen = true;
    upstream.allowHalfOpen = true;
    this.#watch(client, 'client');
    this.#watch(upstream, 'upstream');
    if (this.#inbound) {
      this.#listen(this.#inbound, 'error', (error: Error) => this.#fail('inbound', error));
      client.pipe(this.#inbound).pipe(upstream);
    } else {
      client.pipe(upstream);
    }
    upstream.pipe(client);
    client.resume();
  }

  /** How the hop ended; undefined while it runs. */
  get ended(): GrpcHopEnd | undefined {
    return this.#end;
  }

  /** Cuts both sockets now (the client port's shutdown). */
  destroy(): void {
    this.#finish('destroyed');
  }

  #watch(socket: Socket, side: 'client' | 'upstream'): void {
    this.#listen(socket, 'error', (error: Error) => this.#fail(side, error));
    // A peer's FIN: the pipe passes it on after the last byte; the other direction may now linger.
    this.#listen(socket, 'end', () => this.#startLinger());
    // Our FIN went out on this socket: the direction towards it finished.
    this.#listen(socket, 'finish', () => this.#settle());
    this.#listen(socket, 'close', () => {
      if (!(socket.readableEnded && socket.writableFinished)) this.#finish('destroyed');
      else this.#settle();
    });
  }

  #listen(emitter: Socket | Duplex, event: 'error' | 'end' | 'finish' | 'close', listener: (error: Error) => void): void {
    emitter.on(event, listener);
    this.#detach.push(() => emitter.off(event, listener));
  }

  #startLinger(): void {
    if (this.#lingerTimer !== undefined || this.#end !== undefined) return;
    this.#lingerTimer = setTimeout(() => {
      this.#log.debug('a half-closed gRPC hop outlived its linger; closing both sides', { lingerMs: this.#lingerMs, ...this.#fields() });
      this.#finish('linger');
    }, this.#lingerMs);
    // The bound must not keep a stopping process alive.
    this.#lingerTimer.unref();
  }

  #settle(): void {
    if (this.#client.writableFinished && this.#upstream.writableFinished) this.#finish('drained');
  }

  #fail(side: 'client' | 'upstream' | 'inbound', error: Error): void {
    if (this.#end !== undefined) return;
    const code = (error as NodeJS.ErrnoException).code;
    const routine = side !== 'inbound' && typeof code === 'string' && ROUTINE_ERROR_CODES.has(code);
    this.#log[routine ? 'debug' : 'warn']('a gRPC hop failed; closing both sides', { side, code, error: error.message, ...this.#fields() });
    this.#finish('error');
  }

  #finish(end: GrpcHopEnd): void {
    if (this.#end !== undefined) return;
    this.#end = end;
    clearTimeout(this.#lingerTimer);
    this.#client.unpipe();
    this.#upstream.unpipe();
    this.#inbound?.unpipe();
    this.#client.destroy();
    this.#upstream.destroy();
    this.#inbound?.destroy();
    for (const detach of this.#detach.splice(0)) detach();
    // A late error from a socket already destroyed must not become an uncaught 'error' event.
    this.#client.on('error', ignore);
    this.#upstream.on('error', ignore);
    this.#inbound?.on('error', ignore);
    this.#onEnd?.(end);
  }

  #fields(): Record<string, unknown> {
    return { client: this.#clientAddress, hopPort: this.#upstream.localPort };
  }
}

const ignore = (): void => {};
