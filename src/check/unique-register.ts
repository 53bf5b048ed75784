/**
 * The fast path for registers whose written values are all distinct
 * (writes and cas `to`s, none equal to the initial nil). Polynomial
 * (O(n log n)), after Gibbons & Korach's "read mapping" result, extended
 * here to compare-and-set and unknown operations.
 *
 * Why it is polynomial: with unique values every read names the write it
 * read. A linearization is then a sequence of clusters: one written value's
 * writer, then the reads of that value; once overwritten a value never
 * comes back, so a cluster is contiguous. A successful cas reads one value
 * and writes the next, so it ends one cluster and starts the next: clusters
 * joined by cas form a chain that is contiguous too (a "unit"). So the only
 * freedom left is where each unit sits in time, and that is fixed by two
 * numbers per unit:
 *   H = the earliest return among its operations (it must have begun by then),
 *   K = the latest call among them (it must still be going on then).
 * If H < K the unit occupies at least [H, K] (a forward zone) and can be
 * shrunk to exactly that; otherwise it fits in any single point of [K, H]
 * (a backward zone). The history is linearizable iff every unit is feasible
 * inside (its clusters fit one after the other), forward zones do not
 * overlap, and no backward zone lies strictly inside a forward zone of
 * another unit. (Ties are concurrency: intervals touching at one time are
 * allowed, as the search orders a call before a return at equal times.)
 *
 * Unknown operations: an unknown read is dropped earlier; an unknown write
 * or cas happened if an operation that happened observed its value (then it
 * counts with return time +Infinity), otherwise it may simply not have
 * happened and is dropped (exact, see `happened`). A failed cas is dropped
 * (no effect).
 */
import type { Operation } from './history.js';
import { hashScalar, observedValue, writtenValue } from './models/register.js';

export type UniqueResult =
  | { readonly verdict: 'ok' }
  | { readonly verdict: 'violation'; readonly reason: string; readonly operations: readonly Operation[] };

/** True when the fast path applies: register operations only, every written value distinct and not nil. */
export function uniqueValuesHold(operations: readonly Operation[]): boolean {
  const seen = new Set<string>();
  for (const operation of operations) {
    if (operation.f !== 'read' && operation.f !== 'write' && operation.f !== 'cas') return false;
    const written = writtenValue(operation);
    if (written === undefined) continue;
    // nil is the initial value; a cas from v to v would read its own write.
    if (written === null || (operation.f === 'cas' && hashScalar(operation.from ?? null) === hashScalar(written))) return false;
    const hash = hashScalar(written);
    if (seen.has(hash)) return false;
    seen.add(hash);
  }
  return true;
}

interface Cluster {
  /** undefined for the initial value's cluster (its writer is "before everything"). */
  readonly writer: Operation | undefined;
  readonly readers: Operation[];
  /** The cas that read this value and wrote the next, if any. */
  consumer: Operation | undefined;
}

interface Unit {
  readonly operations: Operation[];
  readonly initial: boolean;
  /** Earliest return. */
  readonly earliestReturn: number;
  /** Latest call. */
  readonly latestCall: number;
}

const INITIAL = hashScalar(null);

/** Decides a unique-values register partition (effective operations: no fails, no unknown reads). */
export function checkUniqueRegister(input: readonly Operation[]): UniqueResult {
  const operations = happened(input);
  const clusters = new Map<string, Cluster>([[INITIAL, { writer: undefined, readers: [], consumer: undefined }]]);
  for (const operation of operations) {
    const written = writtenValue(operation);
    if (written !== undefined) clusters.set(hashScalar(written), { writer: operation, readers: [], consumer: undefined });
  }
  for (const operation of operations) {
    const observed = observedValue(operation);
    if (observed === undefined) continue;
    const cluster = clusters.get(hashScalar(observed));
    if (cluster === undefined) return { verdict: 'violation', reason: `${operation.f} observed ${String(observed)}, which no operation that may have happened wrote`, operations: [operation] };
    if (operation.f === 'cas') {
      if (cluster.consumer !== undefined) {
        return { verdict: 'violation', reason: `two compare-and-sets both replaced the value ${String(observed)}`, operations: [cluster.consumer, operation, ...(cluster.writer === undefined ? [] : [cluster.writer])] };
      }
      cluster.consumer = operation;
    }
    cluster.readers.push(operation);
  }
  const units: Unit[] = [];
  let placed = 0;
  for (const [hash, cluster] of clusters) {
    const root = hash === INITIAL || cluster.writer?.f === 'write';
    if (!root) continue;
    const unit = buildUnit(clusters, cluster, hash === INITIAL);
    if ('verdict' in unit) return unit;
    placed += unit.clusterCount;
    if (unit.unit.operations.length > 0) units.push(unit.unit);
  }
  if (placed !== clusters.size) {
    const stranded = operations.filter((operation) => operation.f === 'cas' && !units.some((unit) => unit.operations.includes(operation)));
    return { verdict: 'violation', reason: 'compare-and-sets form a cycle that no write or the initial value starts', operations: stranded };
  }
  return checkZones(units);
}

/**
 * The operations that must have happened: the ok ones, and, transitively,
 * the unknown writer of every value one of them observed. With unique
 * values the other unknown operations may all not have happened: whatever
 * they wrote is observed only by each other (even in a cycle of unknown
 * cas), so leaving them all out changes no value a required operation
 * sees. Exact, not an approximation.
 */
function happened(input: readonly Operation[]): readonly Operation[] {
  if (!input.some((operation) => operation.type === 'info')) return input;
  const writers = new Map<string, Operation>();
  for (const operation of input) {
    const written = writtenValue(operation);
    if (written !== undefined) writers.set(hashScalar(written), operation);
  }
  const required = new Set<Operation>(input.filter((operation) => operation.type !== 'info'));
  const work = [...required];
  for (let guard = 0; work.length > 0 && guard <= input.length; guard += 1) {
    const observed = observedValue(work.pop() as Operation);
    const writer = observed === undefined ? undefined : writers.get(hashScalar(observed));
    if (writer === undefined || required.has(writer)) continue;
    required.add(writer);
    work.push(writer);
  }
  return input.filter((operation) => required.has(operation));
}

/**
 * A chain of clusters from a root (a plain write or the initial value),
 * checked inside: cluster i's writer must be placeable after everything
 * that precedes it in the chain was called, and before any of its own
 * members returned.
 */
function buildUnit(clusters: Map<string, Cluster>, root: Cluster, initial: boolean): { unit: Unit; clusterCount: number } | { verdict: 'violation'; reason: string; operations: readonly Operation[] } {
  const members: Operation[] = [];
  let latestCall = Number.NEGATIVE_INFINITY;
  let earliestReturn = Number.POSITIVE_INFINITY;
  let cluster: Cluster | undefined = root;
  let clusterCount = 0;
  for (let guard = 0; cluster !== undefined && guard <= clusters.size; guard += 1) {
    clusterCount += 1;
    const writer: Operation | undefined = cluster.writer;
    if (writer !== undefined) {
      // A cas writer was not added as its predecessor's reader (see below), so it is new here.
      members.push(writer);
      latestCall = Math.max(latestCall, writer.call);
    }
    let ownReturn = writer?.ret ?? Number.POSITIVE_INFINITY;
    for (const reader of cluster.readers) ownReturn = Math.min(ownReturn, reader.ret);
    if (latestCall > ownReturn) {
      const late = members.filter((operation) => operation.call === latestCall);
      const early = [...(writer === undefined ? [] : [writer]), ...cluster.readers].filter((operation) => operation.ret === ownReturn);
      return { verdict: 'violation', reason: 'an operation returned before the write it observed could have happened', operations: [...new Set([...late, ...early, ...(writer === undefined ? [] : [writer])])] };
    }
    earliestReturn = Math.min(earliestReturn, ownReturn);
    for (const reader of cluster.readers) {
      if (reader !== cluster.consumer) members.push(reader);
      latestCall = Math.max(latestCall, reader.call);
    }
    const consumer: Operation | undefined = cluster.consumer;
    cluster = consumer === undefined ? undefined : clusters.get(hashScalar(consumer.to ?? null));
  }
  if (initial) earliestReturn = Number.NEGATIVE_INFINITY;
  return { unit: { operations: members, initial, earliestReturn, latestCall }, clusterCount };
}

function checkZones(units: readonly Unit[]): UniqueResult {
  const forward = units.filter((unit) => unit.earliestReturn < unit.latestCall).sort((a, b) => a.earliestReturn - b.earliestReturn);
  for (let index = 1; index < forward.length; index += 1) {
    const before = forward[index - 1] as Unit;
    const after = forward[index] as Unit;
    if (before.latestCall > after.earliestReturn) {
      return { verdict: 'violation', reason: 'two written values must both be current over the same span of time', operations: [...before.operations, ...after.operations] };
    }
  }
  for (const unit of units) {
    if (unit.earliestReturn < unit.latestCall) continue;
    // The forward zone that starts last before this backward zone [latestCall, earliestReturn] starts.
    let low = 0;
    let high = forward.length - 1;
    let found = -1;
    while (low <= high) {
      const middle = (low + high) >>> 1;
      if ((forward[middle] as Unit).earliestReturn < unit.latestCall) {
        found = middle;
        low = middle + 1;
      } else {
        high = middle - 1;
      }
    }
    const zone = found === -1 ? undefined : forward[found];
    if (zone !== undefined && unit.earliestReturn < zone.latestCall) {
      return { verdict: 'violation', reason: 'a value was written and read entirely while another value had to be current', operations: [...zone.operations, ...unit.operations] };
    }
  }
  return { verdict: 'ok' };
}
