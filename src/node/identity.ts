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
