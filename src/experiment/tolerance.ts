import type { Tolerance } from './schema.js';

/**
 * Chaos Toolkit's tolerance check, pure: a boolean, number or string the
 * output must equal; a list the output must be in; a range the (numeric)
 * output must fall in, inclusive; a regex the output's text must match.
 * `target` picks a field of an object output (`status`, `body`).
 */
export function withinTolerance(tolerance: Tolerance, output: unknown): boolean {
  if (Array.isArray(tolerance)) return tolerance.some((value) => value === output);
  if (typeof tolerance !== 'object') return tolerance === output;
  const value = tolerance.target === undefined ? output : (output as Record<string, unknown> | null)?.[tolerance.target];
  if (tolerance.type === 'range') {
    const [low, high] = tolerance.range;
    return typeof value === 'number' && value >= low && value <= high;
  }
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  try {
    return new RegExp(tolerance.pattern).test(text ?? '');
  } catch {
    return false;
  }
}
