/**
 * etcd's revision {main, sub}: every write of one command shares `main`
 * (the cluster-wide revision the command creates) and has its own `sub`,
 * 0, 1, 2, ... in the order the writes were made.
 */
export interface Revision {
  readonly main: number;
  readonly sub: number;
}

export function compareRevisions(a: Revision, b: Revision): number {
  return a.main !== b.main ? a.main - b.main : a.sub - b.sub;
}

/** First position in `sorted` (ascending by main) whose main is >= `main`. */
export function lowerBoundByMain(sorted: readonly Revision[], main: number): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (sorted[middle]!.main < main) low = middle + 1;
    else high = middle;
  }
  return low;
}

/** First position in `sorted` (ascending by main) whose main is > `main`. */
export function upperBoundByMain(sorted: readonly Revision[], main: number): number {
  return lowerBoundByMain(sorted, main + 1);
}
