import type { Entry } from '../../src/raft/types.js';

/** A string identifying an entry's content, for comparing entries across nodes. */
export function entryKey(entry: Entry): string {
  let key = `${entry.term}/${entry.type}/`;
  for (const byte of entry.data) key += String.fromCharCode(byte);
  return key;
}
