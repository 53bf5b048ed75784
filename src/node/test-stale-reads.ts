/**
 * A planted bug, for tests only: it makes this member serve linearizable
 * reads the way a buggy member would, from its local state without a
 * ReadIndex round, and STALE_READ_LAG_REVISIONS revisions behind. keel
 * experiment's test turns it on to prove the checker catches a stale read
 * and names a counterexample.
 *
 * Off unless the member's environment carries KEEL_TEST_STALE_READS=1 (and
 * never with NODE_ENV=production); even then it does nothing until POST
 * /debug/stale-reads `{"on": true}` on the client port switches it on
 * (`{"on": false}` off). Without the variable the route answers 403.
 */

/** How far behind a read served by the planted bug is. */
export const STALE_READ_LAG_REVISIONS = 20;

const permitted = process.env['KEEL_TEST_STALE_READS'] === '1' && process.env['NODE_ENV'] !== 'production';
let on = false;

export function staleReadsPermitted(): boolean {
  return permitted;
}

/** Switches the planted bug; returns false (and changes nothing) unless the environment permits it. */
export function setStaleReads(value: boolean): boolean {
  if (!permitted) return false;
  on = value;
  return true;
}

/** True only in a test run that switched the bug on. */
export function staleReadsOn(): boolean {
  return on;
}

/** The revision a stale read reads at: well behind the current one, never below what compaction kept. */
export function staleRevision(current: number, compacted: number): number {
  return Math.max(1, compacted, current - STALE_READ_LAG_REVISIONS);
}
