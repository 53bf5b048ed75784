/**
 * The register (read, write) and the compare-and-set register (read, write,
 * cas from->to). Initially nil: a read of nil means "never written".
 * Values compare with ===, so 1 and "1" differ.
 */
import type { Operation, Scalar } from '../history.js';
import type { Model } from './model.js';

function stepRegister(state: Scalar, operation: Operation): Scalar | undefined {
  switch (operation.f) {
    case 'read':
      return operation.value === state ? state : undefined;
    case 'write':
      return operation.value;
    case 'cas':
      return operation.from === state ? (operation.to ?? null) : undefined;
    default:
      return undefined;
  }
}

export function hashScalar(value: Scalar): string {
  if (value === null) return 'n';
  return typeof value === 'number' ? `d${value}` : `s${value}`;
}

/** What an operation writes (a write's value, a cas's `to`), or undefined. */
export function writtenValue(operation: Operation): Scalar | undefined {
  if (operation.f === 'write') return operation.value;
  if (operation.f === 'cas') return operation.to ?? null;
  return undefined;
}

/** What an operation must have observed (a read's value, a cas's `from`), or undefined. */
export function observedValue(operation: Operation): Scalar | undefined {
  if (operation.f === 'read') return operation.value;
  if (operation.f === 'cas') return operation.from ?? null;
  return undefined;
}

/**
 * Unknown writes and cas whose value nobody observed: "never happened" is
 * always a valid choice for them, so dropping them is exact. Dropping an
 * unknown cas frees its `from`, which may leave an unknown write unobserved.
 */
export function unobservedRegisterUnknowns(input: readonly Operation[]): Set<Operation> {
  const observers = new Map<string, number>();
  for (const operation of input) {
    const observed = observedValue(operation);
    if (observed !== undefined) observers.set(hashScalar(observed), (observers.get(hashScalar(observed)) ?? 0) + 1);
  }
  const dropped = new Set<Operation>();
  const byValue = new Map<string, Operation>();
  for (const operation of input) {
    const written = writtenValue(operation);
    if (written !== undefined) byValue.set(hashScalar(written), operation);
  }
  // A worklist: dropping an unknown cas removes an observer of its `from`, which may free that value's unknown writer too.
  const work = input.filter((operation) => operation.type === 'info' && writtenValue(operation) !== undefined);
  for (let guard = 0; work.length > 0 && guard <= 2 * input.length; guard += 1) {
    const operation = work.pop() as Operation;
    if (dropped.has(operation)) continue;
    if ((observers.get(hashScalar(writtenValue(operation) as Scalar)) ?? 0) > 0) continue;
    dropped.add(operation);
    if (operation.f === 'cas') {
      const from = hashScalar(operation.from ?? null);
      observers.set(from, (observers.get(from) ?? 1) - 1);
      const writer = byValue.get(from);
      if (writer !== undefined && writer.type === 'info') work.push(writer);
    }
  }
  return dropped;
}

function feedsRegister(writer: Operation, reader: Operation): boolean {
  const written = writtenValue(writer);
  return written !== undefined && observedValue(reader) === written;
}

export const registerModel: Model<Scalar> = {
  name: 'register',
  operations: ['read', 'write'],
  init: () => null,
  step: stepRegister,
  hash: hashScalar,
  feeds: feedsRegister,
  unobservedUnknowns: unobservedRegisterUnknowns,
};

export const casRegisterModel: Model<Scalar> = {
  name: 'cas-register',
  operations: ['read', 'write', 'cas'],
  init: () => null,
  step: stepRegister,
  hash: hashScalar,
  feeds: feedsRegister,
  unobservedUnknowns: unobservedRegisterUnknowns,
};
