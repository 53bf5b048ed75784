import type { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Stream, Toxic } from './toxics.js';

/** Bytes a stream may hold while its toxics delay them; past it the sending socket is paused (backpressure, not growth). */
const PIPE_BUFFER_BYTES_MAX = 1_048_576;
/** How often a stream held by a `timeout` toxic with timeout 0 looks whether the toxic is gone. */
const HOLD_POLL_MS = 20;

/** Bytes a proxy received and sent, per stream (Toxiproxy's proxy metrics). */
export interface ByteCounts {
  readonly received: Record<Stream, number>;
  readonly sent: Record<Stream, number>;
}

/**
 * One proxied connection: the client's socket, the upstream socket and a
 * pipe each way through the proxy's current toxics. Toxics are looked up
 * for every chunk, so adding or removing one changes live connections too,
 * as in Toxiproxy. Whether a toxic applies to this connection (its
 * toxicity) is drawn once, when the connection first meets it.
 */
export class Link {
  readonly #client: Socket;
  readonly #upstream: Socket;
  readonly #toxics: () => readonly Toxic[];
  readonly #random: () => number;
  readonly #applies = new Map<string, boolean>();
  readonly #timers = new Map<string, NodeJS.Timeout>();
  #closed = false;
  readonly #onClose: () => void;
  readonly #counts: ByteCounts;

  constructor(client: Socket, upstream: Socket, toxics: () => readonly Toxic[], random: () => number, onClose: () => void, counts: ByteCounts) {
    this.#counts = counts;
    this.#client = client;
    this.#upstream = upstream;
    this.#toxics = toxics;
    this.#random = random;
    this.#onClose = onClose;
    for (const socket of [client, upstream]) {
      socket.on('error', () => this.close());
      socket.on('close', () => this.close());
    }
    void this.#pump(client, upstream, 'upstream');
    void this.#pump(upstream, client, 'downstream');
    this.toxicsChanged();
  }

  /** Starts the timers of timer-driven toxics (timeout, reset_peer) that are new, and stops those of removed ones. */
  toxicsChanged(): void {
    if (this.#closed) return;
    const active = this.#active();
    for (const [key, timer] of this.#timers) {
      if (!active.some((toxic) => timerKey(toxic) === key)) {
        clearTimeout(timer);
        this.#timers.delete(key);
      }
    }
    for (const toxic of active) {
      if (toxic.type !== 'timeout' && toxic.type !== 'reset_peer') continue;
      if (this.#timers.has(timerKey(toxic))) continue;
      if (toxic.type === 'timeout' && toxic.attributes['timeout'] === 0) continue; // holds data until removed; never closes
      const fire = toxic.type === 'reset_peer' ? () => this.reset() : () => this.close();
      const delayMs = toxic.attributes['timeout']!;
      if (delayMs === 0) {
        // At once, before any byte moves: a microtask runs before the next I/O callback (a timer of 0 ms would not).
        this.#timers.set(timerKey(toxic), setTimeout(() => undefined, 0));
        queueMicrotask(fire);
        continue;
      }
      this.#timers.set(timerKey(toxic), setTimeout(fire, delayMs));
    }
  }

  /** Closes both sockets (a proxy disabled or deleted, a timeout toxic fired). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const timer of this.#timers.values()) clearTimeout(timer);
    this.#client.destroy();
    this.#upstream.destroy();
    this.#onClose();
  }

  /** Closes both sockets with a TCP RST (reset_peer): the client sees ECONNRESET. */
  reset(): void {
    if (this.#closed) return;
    this.#client.resetAndDestroy();
    this.#upstream.resetAndDestroy();
    this.close();
  }

  #active(stream?: Stream): Toxic[] {
    return this.#toxics().filter((toxic) => {
      if (stream !== undefined && toxic.stream !== stream) return false;
      const key = `${toxic.name}`;
      let applies = this.#applies.get(key);
      if (applies === undefined) {
        applies = toxic.toxicity >= 1 || this.#random() < toxic.toxicity;
        this.#applies.set(key, applies);
      }
      return applies;
    });
  }

  async #pump(from: Socket, to: Socket, stream: Stream): Promise<void> {
    const queue: Buffer[] = [];
    let queuedBytes = 0;
    let ended = false;
    let wake: (() => void) | undefined;
    from.on('data', (chunk: Buffer) => {
      this.#counts.received[stream] += chunk.length;
      queue.push(chunk);
      queuedBytes += chunk.length;
      if (queuedBytes > PIPE_BUFFER_BYTES_MAX) from.pause();
      wake?.();
    });
    from.on('end', () => {
      ended = true;
      wake?.();
    });
    let sent = 0;
    while (!this.#closed) {
      if (queue.length === 0) {
        if (ended) break;
        await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
        continue;
      }
      const chunk = queue.shift()!;
      queuedBytes -= chunk.length;
      if (queuedBytes <= PIPE_BUFFER_BYTES_MAX) from.resume();
      const toxics = this.#active(stream);
      if (toxics.some((toxic) => toxic.type === 'timeout')) {
        await this.#holdWhileTimeout(stream);
        continue; // Toxiproxy drops what arrives while a timeout toxic holds the stream
      }
      const before = sent;
      sent = await this.#deliver(chunk, toxics, to, sent);
      this.#counts.sent[stream] += sent - before;
    }
    if (this.#closed) return;
    const slowClose = this.#active(stream).find((toxic) => toxic.type === 'slow_close');
    if (slowClose) await sleep(slowClose.attributes['delay']!);
    to.end();
  }

  async #holdWhileTimeout(stream: Stream): Promise<void> {
    while (!this.#closed && this.#active(stream).some((toxic) => toxic.type === 'timeout')) await sleep(HOLD_POLL_MS);
  }

  /** Delivers one chunk through the stream's toxics; returns the bytes sent so far on this stream (for limit_data). */
  async #deliver(chunk: Buffer, toxics: readonly Toxic[], to: Socket, sentBefore: number): Promise<number> {
    let data = chunk;
    let sent = sentBefore;
    const limit = toxics.find((toxic) => toxic.type === 'limit_data');
    if (limit && limit.attributes['bytes']! > 0 && sent + data.length >= limit.attributes['bytes']!) {
      const allowed = Math.max(0, limit.attributes['bytes']! - sent);
      if (allowed > 0) to.write(data.subarray(0, allowed));
      this.close();
      return sent + allowed;
    }
    for (const toxic of toxics) {
      if (toxic.type === 'latency') {
        const jitter = toxic.attributes['jitter']!;
        await sleep(Math.max(0, toxic.attributes['latency']! + (jitter > 0 ? Math.round((this.#random() * 2 - 1) * jitter) : 0)));
      } else if (toxic.type === 'bandwidth' && toxic.attributes['rate']! > 0) {
        await sleep((data.length / (toxic.attributes['rate']! * 1024)) * 1000);
      }
    }
    if (this.#closed) return sent;
    const slicer = toxics.find((toxic) => toxic.type === 'slicer');
    if (slicer && slicer.attributes['average_size']! > 0) {
      for (const slice of this.#slices(data, slicer)) {
        if (this.#closed) return sent;
        to.write(slice);
        sent += slice.length;
        if (slicer.attributes['delay']! > 0) await sleep(slicer.attributes['delay']! / 1000);
      }
      return sent;
    }
    to.write(data);
    data = Buffer.alloc(0);
    return sent + chunk.length;
  }

  /** Slicer: pieces of average_size ± size_variation bytes. */
  #slices(data: Buffer, slicer: Toxic): Buffer[] {
    const slices: Buffer[] = [];
    const average = slicer.attributes['average_size']!;
    const variation = Math.min(slicer.attributes['size_variation']!, average - 1);
    for (let offset = 0; offset < data.length;) {
      const size = Math.max(1, Math.round(average + (this.#random() * 2 - 1) * variation));
      slices.push(data.subarray(offset, offset + size));
      offset += size;
    }
    return slices;
  }
}

function timerKey(toxic: Toxic): string {
  return `${toxic.name}/${toxic.type}/${toxic.attributes['timeout']}`;
}
