/**
 * The range math of etcd's role-based access: which key ranges a set of
 * permissions covers, and whether a request's range lies wholly inside.
 * Pure functions over bytes, no state.
 *
 * etcd's conventions, shared by permissions and requests:
 * - an empty range_end means the one key `key`;
 * - range_end "\0" means every key from `key` on (etcdctl's --from-key;
 *   with key "\0" or empty too, every key);
 * - otherwise the half-open range [key, range_end).
 *
 * A request is permitted only when its whole range is covered by the
 * union of the permitted ranges: a range that crosses a forbidden key is
 * refused, never filtered (etcd's interval-tree Contains check).
 */

export type PermissionType = 'READ' | 'WRITE' | 'READWRITE';
/** etcd's authpb.Permission.Type numbers. */
export const PERMISSION_TYPES: readonly PermissionType[] = ['READ', 'WRITE', 'READWRITE'];

export interface Permission {
  permType: PermissionType;
  key: Uint8Array;
  /** Empty: the key alone; "\0": every key from `key` on. */
  rangeEnd: Uint8Array;
}

/** What a request needs: reading or writing its range. */
export type Access = 'READ' | 'WRITE';

/** [start, end) in byte order; `end` undefined means no upper bound. */
export interface Interval {
  readonly start: Uint8Array;
  readonly end: Uint8Array | undefined;
}

const ZERO = new Uint8Array([0]);

export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const length = Math.min(a.length, b.length);
  for (let index = 0; index < length; index++) {
    const difference = a[index]! - b[index]!;
    if (difference !== 0) return difference;
  }
  return a.length - b.length;
}

function isFromKey(rangeEnd: Uint8Array): boolean {
  return rangeEnd.length === 1 && rangeEnd[0] === 0;
}

/** The smallest key after `key`: key + "\0". */
function successor(key: Uint8Array): Uint8Array {
  const next = new Uint8Array(key.length + 1);
  next.set(key);
  return next;
}

/** The interval a (key, range_end) pair names, by etcd's conventions above. */
export function intervalOf(key: Uint8Array, rangeEnd: Uint8Array): Interval {
  if (rangeEnd.length === 0) return { start: key, end: successor(key) };
  if (isFromKey(rangeEnd)) return { start: key.length === 1 && key[0] === 0 ? new Uint8Array(0) : key, end: undefined };
  return { start: key, end: rangeEnd };
}

/** Whether `permission` grants `access`. */
export function grants(permission: Permission, access: Access): boolean {
  return permission.permType === 'READWRITE' || permission.permType === access;
}

/**
 * The union of the permissions that grant `access`, as sorted disjoint
 * intervals (touching ones merged). Empty intervals (end <= start) are
 * dropped: they cover nothing.
 */
export function mergedIntervals(permissions: Iterable<Permission>, access: Access): Interval[] {
  const intervals: Interval[] = [];
  for (const permission of permissions) {
    if (!grants(permission, access)) continue;
    const interval = intervalOf(permission.key, permission.rangeEnd);
    if (interval.end !== undefined && compareBytes(interval.end, interval.start) <= 0) continue;
    intervals.push(interval);
  }
  intervals.sort((a, b) => compareBytes(a.start, b.start));
  const merged: Interval[] = [];
  for (const interval of intervals) {
    const last = merged[merged.length - 1];
    if (last !== undefined && (last.end === undefined || compareBytes(interval.start, last.end) <= 0)) {
      if (last.end !== undefined && (interval.end === undefined || compareBytes(interval.end, last.end) > 0)) merged[merged.length - 1] = { start: last.start, end: interval.end };
      continue;
    }
    merged.push(interval);
  }
  return merged;
}

/**
 * Whether the request range (key, range_end) lies wholly inside `merged`
 * (from mergedIntervals). A request range that is empty (range_end <= key)
 * touches no key; it is treated as the key alone, the stricter reading.
 */
export function covers(merged: readonly Interval[], key: Uint8Array, rangeEnd: Uint8Array): boolean {
  let wanted = intervalOf(key, rangeEnd);
  if (wanted.end !== undefined && compareBytes(wanted.end, wanted.start) <= 0) wanted = intervalOf(key, new Uint8Array(0));
  // The intervals are disjoint and not touching, so the one holding the start must also reach the end.
  for (const interval of merged) {
    if (compareBytes(interval.start, wanted.start) > 0) return false;
    if (interval.end !== undefined && compareBytes(interval.end, wanted.start) <= 0) continue;
    if (interval.end === undefined) return true;
    return wanted.end !== undefined && compareBytes(wanted.end, interval.end) <= 0;
  }
  return false;
}

/** Equal (key, range_end) pairs name one permission slot in a role (etcd replaces the type in place). */
export function samePermissionRange(a: { key: Uint8Array; rangeEnd: Uint8Array }, b: { key: Uint8Array; rangeEnd: Uint8Array }): boolean {
  return compareBytes(a.key, b.key) === 0 && compareBytes(a.rangeEnd, b.rangeEnd) === 0;
}

export { ZERO as FROM_KEY_RANGE_END };
