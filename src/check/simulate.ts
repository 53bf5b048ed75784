/**
 * Synthetic histories with a known verdict, from a seeded PRNG: concurrent
 * clients run against a real (simulated) linearizable object, each
 * operation taking effect at a random instant inside its interval, so the
 * history is linearizable by construction. `staleRead` then rewrites one
 * read to return a value that was overwritten (by a write that completed
 * before the read was called): a violation by construction.
 *
 * Written values are unique (`w<n>` for registers, ` a<n>` appended or
 * `p<n>` put for kv). An unknown write times out: it takes effect with
 * probability 1/2 (at its instant) or never, and its client continues as a
 * new process, as Jepsen does.
 */
import { type Operation, type OperationName, type Scalar, uniformOperation } from './history.js';
import type { ModelName } from './models/model.js';
import { SeededRandom } from '../raft/random.js';

export interface SimulateOptions {
  readonly seed: number;
  readonly model: ModelName;
  readonly clients: number;
  readonly operations: number;
  /** Keys (default 1, the key ""); each operation picks one uniformly. */
  readonly keys?: number;
  /** Fraction of writes (write, cas, put, append) whose outcome is unknown (default 0.2). */
  readonly unknownWriteFraction?: number;
  /** Fraction of reads (default 0.5); the rest are writes, and for cas-register a third of them cas. */
  readonly readFraction?: number;
  /** Rewrite one read into a stale one (the history is then not linearizable). */
  readonly staleRead?: boolean;
}

export interface Simulated {
  readonly operations: Operation[];
  /** Times at which unknown operations were given up on (for writing them out as events). */
  readonly gaveUpAt: ReadonlyMap<number, number>;
  /** The operation id of the injected stale read, if any. */
  readonly staleReadId: number | undefined;
}

/** Uniform numbers in [0, 1) from the project's seeded PRNG (the consensus core's xoshiro128**). */
export function seededRandom(seed: number): () => number {
  const generator = new SeededRandom(seed);
  return () => generator.float();
}

interface Planned {
  id: number;
  process: number;
  call: number;
  at: number;
  ret: number;
  key: string;
  f: OperationName;
  unknown: boolean;
  applies: boolean;
}

/** Largest simulated history (bounded memory). */
const SIMULATED_OPERATIONS_MAX = 10_000_000;

export function simulateHistory(options: SimulateOptions): Simulated {
  if (!(options.operations > 0 && options.operations <= SIMULATED_OPERATIONS_MAX && options.clients > 0)) throw new RangeError('operations must be in (0, 1e7], clients > 0');
  const random = seededRandom(options.seed);
  const keys = options.keys ?? 1;
  const unknownFraction = options.unknownWriteFraction ?? 0.2;
  const readFraction = options.readFraction ?? 0.5;
  const kv = options.model === 'kv';
  const cursors = Array.from({ length: options.clients }, () => Math.floor(random() * 10));
  const processes = Array.from({ length: options.clients }, (_, index) => index);
  let nextProcess = options.clients;
  const planned: Planned[] = [];
  const gaveUpAt = new Map<number, number>();
  for (let id = 0; id < options.operations; id += 1) {
    // Next client: the one free earliest (round robin on ties is not needed: times are random).
    let client = 0;
    for (let index = 1; index < cursors.length; index += 1) if ((cursors[index] as number) < (cursors[client] as number)) client = index;
    const call = (cursors[client] as number) + 1 + Math.floor(random() * 5);
    const at = call + 1 + Math.floor(random() * 40);
    const ret = at + 1 + Math.floor(random() * 40);
    const reads = random() < readFraction;
    const f: OperationName = reads ? (kv ? 'get' : 'read') : kv ? (random() < 0.2 ? 'put' : 'append') : options.model === 'cas-register' && random() < 1 / 3 ? 'cas' : 'write';
    const unknown = !reads && random() < unknownFraction;
    const key = keys === 1 ? '' : String(Math.floor(random() * keys));
    planned.push({ id, process: processes[client] as number, call, at, ret, key, f, unknown, applies: !unknown || random() < 0.5 });
    if (unknown) {
      gaveUpAt.set(id, ret);
      processes[client] = nextProcess;
      nextProcess += 1;
    }
    cursors[client] = ret;
  }
  // Apply in linearization (instant) order to learn results.
  const byInstant = [...planned].sort((a, b) => a.at - b.at || a.id - b.id);
  const state = new Map<string, Scalar>();
  const history: (Operation | undefined)[] = new Array(planned.length);
  const versions = new Map<string, Scalar[]>();
  let written = 0;
  for (const plan of byInstant) {
    const current = state.get(plan.key) ?? (kv ? '' : null);
    const base = { id: plan.id, process: String(plan.process), call: plan.call, ret: plan.unknown ? Number.POSITIVE_INFINITY : plan.ret, key: plan.key, f: plan.f };
    if (plan.f === 'read' || plan.f === 'get') {
      history[plan.id] = uniformOperation({ ...base, type: 'ok', value: current });
      continue;
    }
    written += 1;
    let next: Scalar = current;
    let succeeded = true;
    let operation: Operation;
    if (plan.f === 'cas') {
      const history = versions.get(plan.key) ?? [];
      // Half the time the client expects the current value (succeeds), else an older one (fails).
      const from = random() < 0.5 || history.length < 2 ? current : (history[Math.max(0, history.length - 2 - Math.floor(random() * 3))] as Scalar);
      const to = `w${written}`;
      succeeded = from === current;
      next = succeeded ? to : current;
      operation = { ...base, type: plan.unknown ? 'info' : succeeded ? 'ok' : 'fail', value: null, from, to };
    } else if (plan.f === 'write') {
      next = `w${written}`;
      operation = { ...base, type: plan.unknown ? 'info' : 'ok', value: next };
    } else if (plan.f === 'put') {
      next = `p${written}`;
      operation = { ...base, type: plan.unknown ? 'info' : 'ok', value: next };
    } else {
      const piece = ` a${written}`;
      next = `${current as string}${piece}`;
      operation = { ...base, type: plan.unknown ? 'info' : 'ok', value: piece };
    }
    history[plan.id] = uniformOperation(operation);
    if (plan.applies && succeeded && next !== current) {
      state.set(plan.key, next);
      const list = versions.get(plan.key) ?? [];
      list.push(next);
      versions.set(plan.key, list);
    }
  }
  const operations = history as Operation[];
  const staleReadId = options.staleRead === true ? injectStaleRead(operations, random) : undefined;
  return { operations, gaveUpAt, staleReadId };
}

/**
 * Makes one read (from the middle on) return the value written by an `ok`
 * write W_old although another `ok` write W_new ran entirely after W_old and
 * completed before the read was called: with unique values no order
 * explains it.
 */
function injectStaleRead(operations: Operation[], random: () => number): number | undefined {
  const reads = operations.filter((operation) => (operation.f === 'read' || operation.f === 'get') && operation.type === 'ok');
  const start = Math.floor(reads.length / 2 + random() * (reads.length / 4));
  for (let offset = 0; offset < reads.length; offset += 1) {
    const read = reads[(start + offset) % reads.length] as Operation;
    const writes = operations.filter((operation) => operation.key === read.key && operation.type === 'ok' && (operation.f === 'write' || operation.f === 'put' || operation.f === 'cas') && operation.ret < read.call);
    // W_new: the latest-called completed write before the read; W_old: one that completed before W_new was called.
    writes.sort((a, b) => b.call - a.call);
    const newer = writes[0];
    if (newer === undefined) continue;
    const older = writes.find((operation) => operation.ret < newer.call);
    if (older === undefined) continue;
    const stale = older.f === 'cas' ? (older.to ?? null) : older.value;
    if (stale === read.value) continue;
    operations[read.id] = uniformOperation({ ...read, value: stale });
    return read.id;
  }
  return undefined;
}

/** The simulated history as keel JSONL events (for files and the CLI). */
export function toKeelEvents(simulated: Simulated): string {
  const events: { time: number; order: number; text: string }[] = [];
  for (const operation of simulated.operations) {
    const value = operation.f === 'cas' ? [operation.from, operation.to] : operation.f === 'read' || operation.f === 'get' ? null : operation.value;
    const process = Number(operation.process);
    events.push({ time: operation.call, order: 0, text: JSON.stringify({ process, type: 'invoke', f: operation.f, key: operation.key, value, time: operation.call }) });
    const end = operation.type === 'info' ? (simulated.gaveUpAt.get(operation.id) ?? operation.call) : operation.ret;
    const result = operation.f === 'read' || operation.f === 'get' ? operation.value : value;
    events.push({ time: end, order: 1, text: JSON.stringify({ process, type: operation.type, f: operation.f, key: operation.key, value: result, time: end }) });
  }
  events.sort((a, b) => a.time - b.time || a.order - b.order);
  return `${events.map((event) => event.text).join('\n')}\n`;
}
