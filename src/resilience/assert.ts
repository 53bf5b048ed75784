import { AssertionError } from './errors.js';

/**
 * Invariant checks that stay on in production: a broken invariant inside a
 * policy means its counters are already wrong, and going on would hide it.
 * Bad input from callers is a typed `ConfigError` instead.
 */
export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new AssertionError(message);
}
