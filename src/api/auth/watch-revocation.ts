import type { KeelNode } from '../../node/keel-node.js';
import type { WatchStream } from '../../store/watch-hub.js';
import type { Caller } from './guard.js';

/**
 * Open watches lose their permission with the permission. A watch is
 * checked when it is created (guard.ts); afterwards, every applied auth
 * change that moves the auth revision (a role revoked from the user, a
 * permission revoked from a role, the user deleted, auth enabled) re-checks
 * every watcher of every open stream against the new state, synchronously,
 * before the next log entry applies, so no event from a revision after the
 * revocation reaches it. A watcher its user may no longer read is canceled
 * with etcd's cancel_reason "etcdserver: permission denied".
 *
 * The check uses the user the stream's caller acts as (its token's user as
 * last resolved, or its certificate's CN): a stream whose watches were
 * created while auth was off has no user, so enabling auth cancels them.
 */
export const PERMISSION_DENIED_REASON = 'etcdserver: permission denied';

const EMPTY = new Uint8Array(0);

/** Whether `name` may read (key, rangeEnd) now. */
function mayRead(node: KeelNode, name: string | undefined, key: Uint8Array, rangeEnd: Uint8Array | undefined): boolean {
  try {
    node.auth.checkRange(name === undefined ? undefined : { name, revision: node.auth.revision }, key, rangeEnd ?? EMPTY, 'READ');
    return true;
  } catch {
    return false;
  }
}

/** Cancels the stream's watchers its caller may no longer read. */
export function revokeForbiddenWatches(node: KeelNode, caller: Caller, stream: WatchStream): void {
  if (!node.auth.enabled || stream.closed) return;
  const name = caller.knownUser();
  for (const watcher of [...stream.watchers.values()]) {
    if (!mayRead(node, name, watcher.request.key, watcher.request.rangeEnd)) stream.revoke(watcher.id, PERMISSION_DENIED_REASON);
  }
}

/** Re-checks the stream's watchers on every auth change until the returned function is called (when the stream ends). */
export function guardOpenWatches(node: KeelNode, caller: Caller, stream: WatchStream): () => void {
  return node.onAuthChange(() => revokeForbiddenWatches(node, caller, stream));
}
