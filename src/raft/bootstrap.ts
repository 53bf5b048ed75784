import { assert } from './assert.js';
import { encodeConfChange } from './conf-change.js';
import type { ConfChange, Entry, HardState, NodeId } from './types.js';
import { ConfChangeType, EntryType, NONE } from './types.js';

/**
 * The log every founding member of a new cluster starts with: one AddVoter
 * entry per founder at term 1, already committed (as etcd's Bootstrap does).
 * The founding membership has to live in the log itself: a member that joins
 * later replays the log from index 1 (or receives a snapshot), and must
 * arrive at the same membership as everyone else. `contextOf` lets the
 * caller attach its own data to each founder's entry (keel: addresses),
 * opaque to the core as every ConfChange context is.
 */
export function bootstrapLog(voters: readonly NodeId[], contextOf?: (id: NodeId) => Uint8Array | undefined): { entries: Entry[]; hardState: HardState } {
  assert(voters.length > 0, 'a cluster needs at least one voter');
  assert(new Set(voters).size === voters.length, 'duplicate voter ids');
  const entries = [...voters].sort().map((nodeId, offset) => ({
    term: 1,
    index: offset + 1,
    type: EntryType.ConfChange,
    data: encodeConfChange(withContext({ type: ConfChangeType.AddVoter, nodeId }, contextOf?.(nodeId))),
  }));
  return { entries, hardState: { term: 1, vote: NONE, commit: entries.length } };
}

function withContext(change: ConfChange, context: Uint8Array | undefined): ConfChange {
  return context && context.length > 0 ? { ...change, context } : change;
}
