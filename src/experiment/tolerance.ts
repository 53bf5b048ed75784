import type { Tolerance } from './schema.js';

/**
 * Chaos Toolkit's tolerance check, pure: a boolean, number or string the
 * output must equal; a list the output must be in; a range the (numeric)
 * output must fall in, inclusive; a regex the output's text must match.
 * `target` picks a field of an object output (`TTL`, or a dotted path:
 * `header.revision`).
 */
export function withinTolerance(tolerance: Tolerance, output: unknown): boolean {
  if (Array.isArray(tolerance)) return tolerance.some((value) => value === output);
  if (typeof tolerance !== 'object') return tolerance === output;
  const value = tolerance.target === undefined ? output : pick(output, tolerance.target);
  if (tolerance.type === 'range') {
    const [low, high] = tolerance.range;
    // etcd's JSON writes int64s (a lease's TTL, a revision) as strings.
    const number = typeof value === 'string' && /^-?\d+(\.\d+)?$/.test(value) ? Number(value) : value;
    return typeof number === 'number' && number >= low && number <= high;
  }
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  try {
    return new RegExp(tolerance.pattern).test(text ?? '');
  } catch {
    return false;
  }
}

/** `a.b.c` of an object output; undefined where a step is missing. */
function pick(output: unknown, path: string): unknown {
  let value = output;
  for (const step of path.split('.')) {
    if (typeof value !== 'object' || value === null) return undefined;
    value = (value as Record<string, unknown>)[step];
  }
  return value;
}
