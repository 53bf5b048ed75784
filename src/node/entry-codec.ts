import { bytesToFill } from '../codec/fill-bytes.js';
import { type Command, encodeCommand } from '../store/command.js';
import type { MembershipCommand } from './membership.js';
import { decodeMembershipCommandJson, encodeMembershipCommandJson } from './membership.js';

/**
 * Every format a raft log entry's data takes in the store member, in one
 * place.
 *
 * A normal entry's data is either empty (the no-op a new leader appends to
 * commit its term) or starts with one tag byte naming its kind. The tag is
 * also the kind's version: a new layout, or a new kind, takes a new tag, and
 * a tag once written is never given another meaning, because WAL segments
 * and snapshots keep old entries and every member must apply them the same
 * way after an upgrade. The tags below predate this list (the request
 * envelope's "version 1" and membership's 0xEB mark), so the bytes already on
 * disk decode unchanged.
 *
 * ConfChange entries carry no tag: raft's entry type tells them apart, their
 * data is raft's ConfChange encoding (decodeConfChange in src/raft) and its
 * context is the JSON of encodeChangeContext / decodeChangeContext in
 * membership.ts (the new member's record and the proposing request's id).
 */
export const EntryKind = {
  /**
   * A store command and the id of the request that proposed it:
   * [1][id length: u8][id: UTF-8][store command bytes]. Every member applies
   * it; the member holding the request finds the id and answers, which is how
   * a follower answers a write it forwarded to the leader.
   */
  Command: 1,
  /**
   * A membership command (MemberUpdate, a member publishing its name):
   * [0xEB][JSON, see MembershipCommand in membership.ts].
   */
  Membership: 0xeb,
} as const;

/** What decodeEntry found in a normal entry's data. */
export type EntryData =
  | { readonly kind: 'empty' }
  | { readonly kind: 'command'; readonly requestId: string; readonly command: Uint8Array }
  /** `command` is undefined when the JSON does not decode (damaged, or an op a newer version added): every member skips it alike. */
  | { readonly kind: 'membership'; readonly command: MembershipCommand | undefined }
  /**
   * Bytes with no tag this code knows, or a command envelope cut short. The
   * member hands them to the state machine as they are, which rejects them
   * (as it always has), so the entry still counts as applied everywhere.
   */
  | { readonly kind: 'unknown'; readonly tag: number; readonly data: Uint8Array };

const ID_LENGTH_MAX = 255;
const EMPTY: EntryData = { kind: 'empty' };
const encoder = new TextEncoder();
/** Not fatal, as before: a request id is matched, never trusted, so replacement characters do no harm. */
const decoder = new TextDecoder();

export function encodeCommandEntry(requestId: string, command: Uint8Array): Uint8Array {
  const head = commandEntryHead(requestId);
  const out = bytesToFill(head.length + command.length); // every byte written below
  out.set(head, 0);
  out.set(command, head.length);
  return out;
}

/** {@link encodeCommandEntry} of `encodeCommand(command)`, in one buffer: the member's path, where a value can be a MiB. */
export function encodeStoreCommandEntry(requestId: string, command: Command): Uint8Array {
  return encodeCommand(command, commandEntryHead(requestId));
}

/** A command entry's bytes before the store command: [1][id length][id]. */
function commandEntryHead(requestId: string): Uint8Array {
  const id = encoder.encode(requestId);
  if (id.length > ID_LENGTH_MAX) throw new RangeError(`request id longer than ${ID_LENGTH_MAX} bytes`);
  const head = new Uint8Array(2 + id.length);
  head[0] = EntryKind.Command;
  head[1] = id.length;
  head.set(id, 2);
  return head;
}

export function encodeMembershipEntry(command: MembershipCommand): Uint8Array {
  const json = encodeMembershipCommandJson(command);
  const out = new Uint8Array(1 + json.length);
  out[0] = EntryKind.Membership;
  out.set(json, 1);
  return out;
}

/** Decodes a normal entry's data. Never throws: whatever a log holds, every member must reach the same verdict. */
export function decodeEntry(data: Uint8Array): EntryData {
  if (data.length === 0) return EMPTY;
  const tag = data[0]!;
  if (tag === EntryKind.Command) return decodeCommandEntry(data);
  // A lone 0xEB byte was never a membership command; it stays with the state machine, as it always did.
  if (tag === EntryKind.Membership && data.length > 1) return { kind: 'membership', command: decodeMembershipCommandJson(data.subarray(1)) };
  return { kind: 'unknown', tag, data };
}

/** A command entry's store command, without decoding its request id (the hot path peeks at every committed entry); undefined for any other entry. */
export function commandBytesOf(data: Uint8Array): Uint8Array | undefined {
  if (data[0] !== EntryKind.Command) return undefined;
  const idLength = data[1];
  if (idLength === undefined || data.length < 2 + idLength) return undefined;
  return data.subarray(2 + idLength);
}

function decodeCommandEntry(data: Uint8Array): EntryData {
  const idLength = data[1];
  if (idLength === undefined || data.length < 2 + idLength) return { kind: 'unknown', tag: EntryKind.Command, data };
  return { kind: 'command', requestId: decoder.decode(data.subarray(2, 2 + idLength)), command: data.subarray(2 + idLength) };
}
