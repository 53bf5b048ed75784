/**
 * The simulator's state machine: a register per key. Each value is written
 * once (values are unique per write), so a read names the write it saw.
 */
const encoder = new TextEncoder();
const decoder = new TextDecoder();

export interface WriteCommand {
  readonly requestId: string;
  readonly key: string;
  readonly value: string;
}

export function encodeWrite(command: WriteCommand): Uint8Array {
  return encoder.encode(`${command.requestId}\u0000${command.key}\u0000${command.value}`);
}

/** Decodes a write; undefined for empty entries (a new leader's no-op). */
export function decodeWrite(data: Uint8Array): WriteCommand | undefined {
  if (data.length === 0) return undefined;
  const [requestId, key, value] = decoder.decode(data).split('\u0000');
  if (requestId === undefined || key === undefined || value === undefined) throw new Error('malformed write command');
  return { requestId, key, value };
}

export interface Register {
  readonly value: string;
  /** Log index of the write that set it. */
  readonly index: number;
}

export class KvStateMachine {
  #registers = new Map<string, Register>();
  applied = 0;

  apply(index: number, command: WriteCommand | undefined): void {
    if (command) this.#registers.set(command.key, { value: command.value, index });
    this.applied = index;
  }

  /** Marks an entry with no effect on the registers (no-op or membership) as applied. */
  skip(index: number): void {
    this.applied = index;
  }

  get(key: string): Register | undefined {
    return this.#registers.get(key);
  }

  snapshot(): Uint8Array {
    const entries = [...this.#registers.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return encoder.encode(JSON.stringify({ applied: this.applied, entries }));
  }

  restore(data: Uint8Array): void {
    const parsed = JSON.parse(decoder.decode(data)) as { applied: number; entries: [string, Register][] };
    this.#registers = new Map(parsed.entries);
    this.applied = parsed.applied;
  }
}
