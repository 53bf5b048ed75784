import type { Message, NodeId } from './types.js';

/**
 * ReadIndex requests waiting for a heartbeat round to confirm leadership
 * (ReadOnlyOption.Safe). Each records the commit index at arrival; once a
 * quorum acknowledges a heartbeat carrying the request's context, it and
 * every request queued before it are answered at their recorded indexes.
 */
interface PendingRead {
  readonly index: number;
  readonly request: Message;
  readonly acks: Set<NodeId>;
}

export class ReadOnly {
  readonly #pending = new Map<string, PendingRead>();
  #queue: string[] = [];

  size(): number {
    return this.#queue.length;
  }

  add(index: number, request: Message): void {
    const key = contextKey(request.context);
    if (this.#pending.has(key)) return;
    this.#pending.set(key, { index, request, acks: new Set() });
    this.#queue.push(key);
  }

  /** Records an ack; returns the set of members that acknowledged this context so far. */
  recordAck(id: NodeId, context: Uint8Array | undefined): ReadonlySet<NodeId> | undefined {
    const pending = this.#pending.get(contextKey(context));
    if (!pending) return undefined;
    pending.acks.add(id);
    return pending.acks;
  }

  /** Removes and returns every request up to and including `context`, in arrival order. */
  advance(context: Uint8Array | undefined): { index: number; request: Message }[] {
    const key = contextKey(context);
    const position = this.#queue.indexOf(key);
    if (position < 0) return [];
    const done = this.#queue.slice(0, position + 1);
    this.#queue = this.#queue.slice(position + 1);
    const result: { index: number; request: Message }[] = [];
    for (const doneKey of done) {
      const pending = this.#pending.get(doneKey)!;
      this.#pending.delete(doneKey);
      result.push({ index: pending.index, request: pending.request });
    }
    return result;
  }

  /** The context of the newest pending request (heartbeats carry it). */
  lastPendingContext(): Uint8Array | undefined {
    const last = this.#queue.at(-1);
    return last === undefined ? undefined : this.#pending.get(last)!.request.context;
  }
}

/** Map key for a byte context: one char per byte, exact and cheap for short contexts. */
export function contextKey(context: Uint8Array | undefined): string {
  if (!context || context.length === 0) return '';
  let key = '';
  for (const byte of context) key += String.fromCharCode(byte);
  return key;
}
