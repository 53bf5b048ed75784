/**
 * Invariant checks that stay on in production: a broken invariant in the
 * state machine means the replicated state is already wrong, and applying
 * more commands would spread it. Bad input is a typed {@link StoreError}.
 */
export class StoreAssertionError extends Error {
  readonly code = 'KEEL_STORE_ASSERTION';
  constructor(message: string) {
    super(message);
    this.name = 'StoreAssertionError';
  }
}

export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new StoreAssertionError(message);
}
