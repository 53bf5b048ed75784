import { SafetyViolation } from './violation.js';

/**
 * Linearizability of the client history. Raft orders writes by log index, so
 * a read is checked exactly against that order: the state it returns (as of
 * applied index `observed`) must include every write acknowledged before the
 * read began and be no older than any read that finished before it began;
 * its value must be the one the log gives that key at `observed`. Writes are
 * checked too: a write that starts after another was acknowledged must land
 * at a higher index.
 */
export class LinearizableReads {
  #maxAcknowledgedWrite = 0;
  #maxCompletedRead = 0;
  readonly #history = new Map<string, { index: number; value: string }[]>();
  readonly #writeFloors = new Map<string, number>();
  readsChecked = 0;
  writesAcknowledged = 0;

  /** A client is about to send a read; returns the bound the read must meet. */
  readStarted(): number {
    return Math.max(this.#maxAcknowledgedWrite, this.#maxCompletedRead);
  }

  writeStarted(requestId: string): void {
    this.#writeFloors.set(requestId, this.#maxAcknowledgedWrite);
  }

  /** The first time any member applies a write (this is its place in the total order). */
  writeCommitted(requestId: string, key: string, value: string, index: number): void {
    const floor = this.#writeFloors.get(requestId);
    if (floor !== undefined && index <= floor) {
      throw new SafetyViolation('linearizability', `write ${requestId} started after index ${floor} was acknowledged but landed at ${index}`);
    }
    this.#writeFloors.delete(requestId);
    let list = this.#history.get(key);
    if (!list) this.#history.set(key, (list = []));
    list.push({ index, value });
  }

  /** The write was refused by the store (NOSPACE): it never took effect, and no read may see it. */
  writeRefused(requestId: string): void {
    this.#writeFloors.delete(requestId);
  }

  writeAcknowledged(index: number): void {
    this.writesAcknowledged++;
    if (index > this.#maxAcknowledgedWrite) this.#maxAcknowledgedWrite = index;
  }

  readCompleted(readId: string, key: string, floor: number, observed: number, value: string | undefined): void {
    this.readsChecked++;
    if (observed < floor) {
      throw new SafetyViolation('linearizability', `read ${readId} returned the state at index ${observed}, older than ${floor} which was visible before it began (stale read)`);
    }
    const expected = this.#valueAt(key, observed);
    if (expected !== value) {
      throw new SafetyViolation('linearizability', `read ${readId} of ${key} at index ${observed} returned ${value ?? '(none)'}; the log says ${expected ?? '(none)'}`);
    }
    if (observed > this.#maxCompletedRead) this.#maxCompletedRead = observed;
  }

  #valueAt(key: string, index: number): string | undefined {
    const list = this.#history.get(key);
    if (!list) return undefined;
    let lo = 0;
    let hi = list.length - 1;
    let found: string | undefined;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (list[mid]!.index <= index) {
        found = list[mid]!.value;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return found;
  }
}
