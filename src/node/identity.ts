/** FNV-1a 64-bit: stable member and cluster ids (etcd's are uint64 too), printed as decimal. */
export function fnv64(text: string): bigint {
  let hash = 0xcbf29ce484222325n;
  for (const byte of Buffer.from(text, 'utf8')) {
    hash ^= BigInt(byte);
    hash = (hash * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return hash;
}

/** A member's numeric id, as the API reports it: a hash of cluster name and member name. */
export function memberIdOf(clusterName: string, id: string): bigint {
  return fnv64(`${clusterName}/${id}`);
}

/** A cluster's numeric id: a hash of its name and its founding members' names (as etcd's, a function of the initial cluster and its token). */
export function clusterIdOf(clusterName: string, founderIds: readonly string[]): bigint {
  return fnv64(`${clusterName}/${[...founderIds].sort().join(',')}`);
}

/** What the member adds to every response header. */
export interface HeaderContext {
  readonly clusterId: bigint;
  readonly memberId: bigint;
  readonly raftTerm: number;
}
