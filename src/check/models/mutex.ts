/**
 * Mutual exclusion: one lock per key, `acquire` and `release` by a process.
 * Linearizability of this object is the property that matters: no two
 * holders overlap in time (an acquire that succeeded while another process
 * held the lock has no place in any order). The state is the holder's
 * process, or null when free.
 */
import type { Operation } from '../history.js';
import type { Model } from './model.js';

export const mutexModel: Model<string | null> = {
  name: 'mutex',
  operations: ['acquire', 'release'],
  init: () => null,
  step(state, operation) {
    if (operation.f === 'acquire') return state === null ? operation.process : undefined;
    if (operation.f === 'release') return state === operation.process ? null : undefined;
    return undefined;
  },
  hash: (state) => (state === null ? 'free' : `held:${state}`),
  // A release needs its process's acquire: shrinking must not delete the acquire and leave the release.
  feeds: (writer, reader) => writer.f === 'acquire' && reader.f === 'release' && writer.process === reader.process,
  unobservedUnknowns(operations) {
    // An unknown acquire no release of its process follows may not have happened (that only frees the lock).
    // An unknown release stays: having happened can only help others.
    const releasing = new Set(operations.filter((operation) => operation.f === 'release').map((operation) => operation.process));
    return new Set<Operation>(operations.filter((operation) => operation.type === 'info' && operation.f === 'acquire' && !releasing.has(operation.process)));
  },
};
