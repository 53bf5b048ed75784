/**
 * A small JSON path: `$` then any of `.name`, `[3]` (an array index) and
 * `["any key"]`, e.g. `$.header.revision`, `$.kvs[0].value`,
 * `$.labels["app.kubernetes.io/name"]`. No wildcards, filters or recursion:
 * a check asserts on one value, and one value has one path.
 */
import { JSON_PATH_SEGMENTS_MAX } from './limits.js';

export type PathSegment = string | number;

const NAME = /^[A-Za-z_][A-Za-z0-9_-]*/;
const INDEX = /^\[(\d{1,9})\]/;
const QUOTED = /^\["((?:[^"\\]|\\.)*)"\]/;

/** The segments of `path`, or a reason it does not parse (the caller names the field). */
export function parseJsonPath(path: string): PathSegment[] | string {
  if (!path.startsWith('$')) return `'${path}' must start with $`;
  const segments: PathSegment[] = [];
  let rest = path.slice(1);
  while (rest.length > 0) {
    if (segments.length >= JSON_PATH_SEGMENTS_MAX) return `'${path}' has more than ${JSON_PATH_SEGMENTS_MAX} segments`;
    const step = nextSegment(rest);
    if (step === undefined) return `'${path}': cannot read '${rest}' (write .name, [0] or ["key"])`;
    segments.push(step.segment);
    rest = rest.slice(step.length);
  }
  return segments;
}

function nextSegment(rest: string): { segment: PathSegment; length: number } | undefined {
  if (rest.startsWith('.')) {
    const name = NAME.exec(rest.slice(1));
    return name === null ? undefined : { segment: name[0], length: 1 + name[0].length };
  }
  const index = INDEX.exec(rest);
  if (index !== null) return { segment: Number(index[1]), length: index[0].length };
  const quoted = QUOTED.exec(rest);
  if (quoted !== null) return { segment: JSON.parse(`"${quoted[1]!}"`) as string, length: quoted[0].length };
  return undefined;
}

/** The value at `segments` in `root`; `found` is false when any step is missing (an absent key, an index past the end, a step into a scalar). */
export function lookupJsonPath(root: unknown, segments: readonly PathSegment[]): { found: boolean; value: unknown } {
  let current: unknown = root;
  for (const segment of segments) {
    if (typeof segment === 'number') {
      if (!Array.isArray(current) || segment >= current.length) return { found: false, value: undefined };
      current = current[segment];
    } else {
      if (typeof current !== 'object' || current === null || Array.isArray(current) || !Object.hasOwn(current, segment)) return { found: false, value: undefined };
      current = (current as Record<string, unknown>)[segment];
    }
  }
  return { found: true, value: current };
}
