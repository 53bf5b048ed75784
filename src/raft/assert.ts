/**
 * Invariant checks that stay on in production: a broken invariant in the
 * consensus core means state is already wrong, and going on would spread it.
 * Operating errors (bad input, peer down) are typed errors instead.
 */
export class AssertionError extends Error {
  readonly code = 'KEEL_RAFT_ASSERTION';
  constructor(message: string) {
    super(message);
    this.name = 'AssertionError';
  }
}

export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new AssertionError(message);
}
