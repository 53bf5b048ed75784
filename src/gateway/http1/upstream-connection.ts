import type { Socket } from 'node:net';
import type { DeadlineSweep, Expiring } from './deadline-sweep.js';

/** What the request holding an upstream connection hears from it (one holder at a time). */
export interface UpstreamHolder {
  /** Bytes from the upstream. */
  onData(chunk: Buffer): void;
  /** The socket closed (after an error, if there was one: errors are not reported apart). */
  onClose(): void;
  /** No byte came from the upstream, nor did the holder write one, for the timeout it holds the connection with. */
  onTimeout(): void;
}

const enum State { Connecting, Held, Parked, Idle, Closed }

/**
 * One keep-alive connection to an upstream. Its socket's listeners (data,
 * error, close) are attached once, when it is created, and hand each event
 * to whoever holds the connection now: a request's attempt, then its
 * response relay, or the pool while it is idle. Swapping that holder costs
 * one field per request where attaching and removing four listeners cost a
 * few µs. Its timeout is an inactivity deadline (as socket.setTimeout's:
 * any byte read, or written through `touch`, restarts it) that the pool's
 * DeadlineSweep checks, not a socket timer armed per request.
 *
 * States: connecting (the pool's connect callback waits), held (a holder
 * hears everything), parked (an attempt got its response head and the
 * relay has not taken over yet: bytes wait in the paused socket, in order),
 * idle (in the pool: any byte, or the idle timeout, closes it), closed.
 */
export class UpstreamConnection implements Expiring {
  readonly socket: Socket;
  #state = State.Connecting;
  #holder: UpstreamHolder | undefined;
  /** 0: no timeout. */
  #timeoutMs = 0;
  #activeMs = 0;
  /** Closed while parked: the next holder hears it. */
  #closeUnheard = false;
  readonly #sweep: DeadlineSweep;
  #onConnected: ((error: Error | undefined) => void) | undefined;

  /**
   * Attaches the socket's listeners; `onConnected` runs once, when `readyEvent` fires or the connect fails or takes
   * longer than `connectTimeoutMs`; `onClosed` runs on close, before the holder hears it (the pool's bookkeeping first).
   */
  constructor(socket: Socket, sweep: DeadlineSweep, readyEvent: 'connect' | 'secureConnect', connectTimeoutMs: number, onConnected: (error: Error | undefined) => void, onClosed: () => void) {
    this.socket = socket;
    this.#sweep = sweep;
    this.#onConnected = onConnected;
    this.#arm(connectTimeoutMs);
    sweep.add(this);
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', (error: Error) => this.#connectFailed(error));
    socket.once('close', () => {
      sweep.delete(this);
      onClosed();
      this.#onClose();
    });
    socket.once(readyEvent, () => {
      this.#timeoutMs = 0;
      const connected = this.#onConnected;
      this.#onConnected = undefined;
      // Until the pool's caller holds it (in this callback), it is parked: no byte is expected yet.
      this.#state = State.Parked;
      connected?.(undefined);
    });
  }

  get closed(): boolean {
    return this.#state === State.Closed || this.socket.destroyed;
  }

  /** `holder` hears everything from now, with an inactivity timeout of `timeoutMs` (0: none) from now. */
  hold(holder: UpstreamHolder, timeoutMs: number): void {
    this.#state = State.Held;
    this.#holder = holder;
    this.#arm(timeoutMs);
    if (this.#closeUnheard) {
      this.#closeUnheard = false;
      queueMicrotask(() => this.#holder === holder && holder.onClose());
    }
  }

  /** Between two holders of one request (an attempt's answer, not yet relayed): bytes wait, no timeout runs. */
  park(): void {
    this.#state = State.Parked;
    this.#holder = undefined;
    this.#timeoutMs = 0;
  }

  /** Kept in the pool: a byte from the upstream (it is out of step) or `timeoutMs` without one closes it. */
  idle(timeoutMs: number): void {
    this.#state = State.Idle;
    this.#holder = undefined;
    this.#arm(timeoutMs);
  }

  /** The holder wrote: activity, as a write is for socket.setTimeout. */
  touch(): void {
    this.#activeMs = this.#sweep.nowMs;
  }

  destroy(): void {
    this.#holder = undefined;
    this.#timeoutMs = 0;
    this.socket.destroy();
  }

  expireIfDue(nowMs: number): void {
    if (this.#timeoutMs === 0 || this.#activeMs + this.#timeoutMs > nowMs) return;
    this.#timeoutMs = 0;
    if (this.#state === State.Connecting) {
      this.#connectFailed(Object.assign(new Error('connect timeout'), { code: 'ETIMEDOUT' }));
      return;
    }
    const holder = this.#holder;
    if (holder !== undefined) holder.onTimeout();
    else this.socket.destroy();
  }

  #arm(timeoutMs: number): void {
    this.#timeoutMs = timeoutMs;
    this.#activeMs = this.#sweep.now();
  }

  #onData(chunk: Buffer): void {
    this.#activeMs = this.#sweep.nowMs;
    const holder = this.#holder;
    if (holder !== undefined) {
      holder.onData(chunk);
      return;
    }
    if (this.#state === State.Parked) {
      // Put back, in order, for the relay that takes over (it resumes the socket).
      this.socket.pause();
      this.socket.unshift(chunk);
      return;
    }
    // Idle: nobody asked, so the upstream is out of step with us.
    this.socket.destroy();
  }

  /** Errors before the connection is up fail the connect; later ones are followed by 'close', which the holder hears. */
  #connectFailed(error: Error): void {
    const connected = this.#onConnected;
    if (connected === undefined) return;
    this.#onConnected = undefined;
    this.socket.destroy();
    connected(error);
  }

  #onClose(): void {
    const wasParked = this.#state === State.Parked;
    this.#state = State.Closed;
    this.#timeoutMs = 0;
    const holder = this.#holder;
    this.#holder = undefined;
    if (holder !== undefined) holder.onClose();
    else if (wasParked) this.#closeUnheard = true;
  }
}
