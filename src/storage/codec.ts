import type { ConfState, Entry, EntryType, HardState, SnapshotMetadata } from '../raft/types.js';
import { type ByteReader, type ByteWriter, DecodeError } from '../codec/index.js';
import { MEMBERS_MAX, NODE_ID_BYTES_MAX } from './limits.js';

/**
 * The records the WAL and snapshot files hold, in keel's one binary codec
 * (src/codec): little-endian fixed-width integers, u32-length-prefixed
 * strings. Dependency-free, and exact: 64-bit fields are written as two
 * 32-bit halves and read back only while they fit a JavaScript number.
 */

/** An entry's encoding up to its data (term, index, type: 17 bytes); the data follows it (decodeEntry reads the rest as the data). */
export function encodeEntryHead(writer: ByteWriter, entry: Entry): ByteWriter {
  return writer.u64le(entry.term).u64le(entry.index).u8(entry.type);
}

export function decodeEntry(reader: ByteReader): Entry {
  const term = reader.u64le();
  const index = reader.u64le();
  const type = reader.u8();
  if (type !== 0 && type !== 1) throw new DecodeError(`unknown entry type ${type}`);
  return { term, index, type: type as EntryType, data: reader.rest() };
}

export function encodeHardState(writer: ByteWriter, hardState: HardState): void {
  writer.u64le(hardState.term).u64le(hardState.commit).stringWithU32Length(hardState.vote);
}

export function decodeHardState(reader: ByteReader): HardState {
  const term = reader.u64le();
  const commit = reader.u64le();
  const vote = reader.stringWithU32Length(NODE_ID_BYTES_MAX);
  reader.expectEnd();
  return { term, vote, commit };
}

function encodeMembers(writer: ByteWriter, members: readonly string[]): void {
  writer.u32le(members.length);
  for (const member of members) writer.stringWithU32Length(member);
}

function decodeMembers(reader: ByteReader): string[] {
  const count = reader.u32le();
  if (count > MEMBERS_MAX) throw new DecodeError(`${count} members exceed ${MEMBERS_MAX}`);
  const members: string[] = [];
  for (let i = 0; i < count; i++) members.push(reader.stringWithU32Length(NODE_ID_BYTES_MAX));
  return members;
}

export function encodeSnapshotMetadata(writer: ByteWriter, metadata: SnapshotMetadata): void {
  writer.u64le(metadata.index).u64le(metadata.term);
  encodeMembers(writer, metadata.confState.voters);
  encodeMembers(writer, metadata.confState.learners);
}

export function decodeSnapshotMetadata(reader: ByteReader): SnapshotMetadata {
  const index = reader.u64le();
  const term = reader.u64le();
  const voters = decodeMembers(reader);
  const learners = decodeMembers(reader);
  const confState: ConfState = { voters, learners };
  return { index, term, confState };
}
