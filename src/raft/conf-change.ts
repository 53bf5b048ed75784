import { assert } from './assert.js';
import type { ConfChange, ConfState, NodeId } from './types.js';
import { ConfChangeType } from './types.js';

/**
 * The encoding of a {@link ConfChange} inside a ConfChange entry:
 * [version=1][type][id length: u16 BE][id: UTF-8][context...]. Versioned so a
 * later joint-consensus format can coexist.
 */
const FORMAT_VERSION = 1;
const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

export function encodeConfChange(change: ConfChange): Uint8Array {
  const id = encoder.encode(change.nodeId);
  const context = change.context ?? new Uint8Array(0);
  const out = new Uint8Array(4 + id.length + context.length);
  out[0] = FORMAT_VERSION;
  out[1] = change.type;
  out[2] = id.length >>> 8;
  out[3] = id.length & 0xff;
  out.set(id, 4);
  out.set(context, 4 + id.length);
  return out;
}

export function decodeConfChange(data: Uint8Array): ConfChange {
  assert(data.length >= 4 && data[0] === FORMAT_VERSION, 'malformed conf change entry');
  const type = data[1]! as ConfChangeType;
  assert(type === ConfChangeType.AddVoter || type === ConfChangeType.AddLearner || type === ConfChangeType.Remove, `unknown conf change type ${type}`);
  const idLength = (data[2]! << 8) | data[3]!;
  assert(data.length >= 4 + idLength, 'truncated conf change entry');
  const nodeId = decoder.decode(data.subarray(4, 4 + idLength));
  const context = data.slice(4 + idLength);
  return context.length > 0 ? { type, nodeId, context } : { type, nodeId };
}

/**
 * The membership after `change`. Single-server changes only: each change
 * moves one member, so any majority of the old voters and any majority of the
 * new voters intersect. A voter cannot be demoted to learner in one step.
 */
export function applyConfChange(conf: ConfState, change: ConfChange): ConfState {
  const id: NodeId = change.nodeId;
  const voters = conf.voters.filter((v) => v !== id);
  const learners = conf.learners.filter((l) => l !== id);
  switch (change.type) {
    case ConfChangeType.AddVoter:
      voters.push(id);
      break;
    case ConfChangeType.AddLearner:
      if (conf.voters.includes(id)) return conf;
      learners.push(id);
      break;
    case ConfChangeType.Remove:
      break;
  }
  return { voters: voters.sort(), learners: learners.sort() };
}

export function confStatesEqual(a: ConfState, b: ConfState): boolean {
  return sameMembers(a.voters, b.voters) && sameMembers(a.learners, b.learners);
}

function sameMembers(a: readonly NodeId[], b: readonly NodeId[]): boolean {
  if (a.length !== b.length) return false;
  const set = new Set(a);
  return b.every((id) => set.has(id));
}
