import { toKeyRange } from './bytes.js';
import type { KvStore } from './kv-store.js';
import type { KvRecord } from './record.js';
import { toKeyValue } from './record.js';
import type { RangeRequest, RangeResponse, ResponseHeader, SortOrder, SortTarget } from './types.js';

/**
 * etcd's Range (etcdserver apply.go): reads the keys of [key, range_end) live
 * at the requested revision; `count` is every such key; min/max filters,
 * sorting and limit apply afterwards, in that order. `currentRevision` is
 * the revision "0" means (inside a txn: including the txn's own writes).
 */
export function executeRange(
  store: KvStore,
  request: RangeRequest,
  currentRevision: number,
  header: ResponseHeader,
): RangeResponse {
  const revision = store.resolveReadRevision(request.revision ?? 0, currentRevision);
  const range = toKeyRange(request.key, request.rangeEnd);
  const limit = request.limit !== undefined && request.limit > 0 ? request.limit : 0;
  const sortOrder = request.sortOrder ?? 'NONE';
  const filtered = hasFilters(request);
  const collectMax = request.countOnly ? 0 : sortOrder !== 'NONE' || filtered || limit === 0 ? Infinity : limit + 1;

  let count = 0;
  let records: KvRecord[] = [];
  store.scan(range, revision, (record) => {
    count++;
    if (records.length < collectMax) records.push(record);
    return true;
  });
  if (filtered) records = records.filter((record) => passesFilters(request, record));
  sortRecords(records, request.sortTarget ?? 'KEY', sortOrder);
  const more = limit > 0 && records.length > limit;
  if (more) records.length = limit;
  const keysOnly = request.keysOnly === true;
  return { header, kvs: records.map((record) => toKeyValue(record, keysOnly)), more, count };
}

function hasFilters(request: RangeRequest): boolean {
  return Boolean(request.minModRevision || request.maxModRevision || request.minCreateRevision || request.maxCreateRevision);
}

function passesFilters(request: RangeRequest, record: KvRecord): boolean {
  if (request.maxModRevision && record.main > request.maxModRevision) return false;
  if (request.minModRevision && record.main < request.minModRevision) return false;
  if (request.maxCreateRevision && record.createRevision > request.maxCreateRevision) return false;
  if (request.minCreateRevision && record.createRevision < request.minCreateRevision) return false;
  return true;
}

const SORT_KEYS: Record<SortTarget, (record: KvRecord) => string | number> = {
  KEY: (record) => record.key,
  VERSION: (record) => record.version,
  CREATE: (record) => record.createRevision,
  MOD: (record) => record.main,
  VALUE: (record) => record.value,
};

/**
 * Records arrive in ascending key order. As etcd: a target other than KEY
 * with order NONE sorts ascending, but with a limit only the first limit + 1
 * keys (etcd fetches everything only when an order or a filter is given;
 * clients set an order, as clientv3.WithSort does, to sort the whole range).
 * The sort is stable, so ties keep ascending key order in either direction
 * (etcd's sort is unstable there).
 */
function sortRecords(records: KvRecord[], target: SortTarget, order: SortOrder): void {
  const effective = order === 'NONE' && target !== 'KEY' ? 'ASCEND' : order;
  if (effective === 'NONE' || (effective === 'ASCEND' && target === 'KEY')) return;
  const sortKey = SORT_KEYS[target];
  const sign = effective === 'ASCEND' ? 1 : -1;
  records.sort((a, b) => {
    const left = sortKey(a);
    const right = sortKey(b);
    return left < right ? -sign : left > right ? sign : 0;
  });
}
