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
};

export const casRegisterModel: Model<Scalar> = {
  name: 'cas-register',
  operations: ['read', 'write', 'cas'],
  init: () => null,
  step: stepRegister,
  hash: hashScalar,
  feeds: feedsRegister,
};
