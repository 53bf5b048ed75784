import type { ConfChange, ConfState, NodeId } from '../raft/types.js';
import { ConfChangeType } from '../raft/types.js';
import { MembershipError } from './errors.js';
import { fnv64, memberIdOf } from './identity.js';

/**
 * The cluster's membership as replicated state: for every raft member, the
 * numeric member id etcd clients see, its name, peer URLs and client URLs.
 *
 * Where it lives. The raft core tracks who votes (ConfState); this table
 * carries what the core treats as opaque: addresses and names. It is
 * rebuilt identically on every member from
 * - the context of each ConfChange entry (AddVoter/AddLearner carry the new
 *   member's record, bootstrap entries carry the founders'),
 * - membership commands in normal entries (MemberUpdate's new peer URLs, a
 *   joining member publishing its name and client URLs, as etcd's publish),
 * - and a snapshot's membership section, so a member that catches up from a
 *   snapshot (or restarts after compaction) still knows every address.
 *
 * Identity. Founders' raft ids are their names (`--id n1`), their member ids
 * memberIdOf(cluster, name), as before. etcd's MemberAdd knows only peer
 * URLs, so an added member's member id is a hash of cluster name and its
 * (single, normalised) peer URL and its raft id is that id in hex. The new
 * process computes the same raft id from its own address in `--peers` when
 * started with `--initial-cluster-state existing` on an empty data dir, and
 * remembers it in member.json; its `--id NAME` becomes its published name.
 * The price: a peer URL whose member was removed cannot be added again
 * (the id would be reused; raft ids are never reused), refused as etcd's
 * "member ID already exist".
 */

/** Members one table holds (voters, learners and not-yet-applied adds). */
export const MEMBERS_MAX = 1_000;
/** Removed raft ids remembered to refuse their return; the oldest are forgotten beyond this. */
export const REMOVED_MEMBERS_MAX = 10_000;
/** URLs per member and bytes per URL accepted in a request. */
export const URLS_PER_MEMBER_MAX = 16;
export const URL_BYTES_MAX = 512;
/** etcd's default --experimental-max-learners. */
export const LEARNERS_MAX = 1;
/** A learner may be promoted once its match index is this share of the leader's (etcd's readyPercent). */
export const LEARNER_READY_RATIO = 0.9;
/** A context or command larger than this is malformed. */
const ENCODED_BYTES_MAX = 64 * 1024;

export interface MemberRecord {
  readonly raftId: NodeId;
  readonly memberId: bigint;
  /** '' until the member has started and published its name (etcd shows unstarted members so). */
  readonly name: string;
  readonly peerUrls: readonly string[];
  readonly clientUrls: readonly string[];
}

// ------------------------------------------------------------------ URLs and ids

const PEER_URL = /^(https?):\/\/([A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\]):(\d{1,5})\/?$/i;

/** "http://Host:2380/" -> "http://host:2380"; undefined when not scheme://host:port (keel's transport needs an explicit port). */
export function normalizePeerUrl(url: unknown): string | undefined {
  if (typeof url !== 'string' || url.length > URL_BYTES_MAX) return undefined;
  const match = PEER_URL.exec(url.trim());
  if (!match) return undefined;
  const port = Number(match[3]);
  if (port < 1 || port > 65_535) return undefined;
  return `${match[1]!.toLowerCase()}://${match[2]!.toLowerCase()}:${port}`;
}

/** "http://h:p" -> "h:p", the transport's address form. */
export function peerAddressOf(url: string): string {
  return url.replace(/^https?:\/\//, '').replace(/\/$/, '');
}

/** The member id MemberAdd assigns to a peer URL (stable: every member and the new process compute the same). */
export function addedMemberId(clusterName: string, peerUrl: string): bigint {
  return fnv64(`${clusterName}/peer/${peerUrl}`);
}

/** The raft id of an added member: its member id in hex, as etcd prints member ids. */
export function raftIdOf(memberId: bigint): NodeId {
  return memberId.toString(16).padStart(16, '0');
}

/** The raft id a process started with `--initial-cluster-state existing` on an empty data dir takes. */
export function joiningRaftId(clusterName: string, peerAddress: string): NodeId {
  return raftIdOf(addedMemberId(clusterName, `http://${peerAddress}`));
}

/** Validates a request's peer URLs: one to URLS_PER_MEMBER_MAX, each scheme://host:port; returns them normalised and sorted. */
export function checkPeerUrls(urls: unknown): string[] {
  if (!Array.isArray(urls) || urls.length === 0 || urls.length > URLS_PER_MEMBER_MAX) throw new MembershipError('KEEL_MEMBER_BAD_URLS', 'peerURLs must list 1 to 16 URLs');
  const normalized = urls.map(normalizePeerUrl);
  if (normalized.some((url) => url === undefined)) throw new MembershipError('KEEL_MEMBER_BAD_URLS', `peerURLs must be http(s)://host:port: ${JSON.stringify(urls)}`);
  // keel's transport dials one address per member, and the joining process can derive its id only from the one address it knows.
  if (new Set(normalized).size !== 1) throw new MembershipError('KEEL_MEMBER_BAD_URLS', 'keel members have exactly one peer URL');
  return [...new Set(normalized as string[])].sort();
}

// ------------------------------------------------------------------ what entries carry

/**
 * The JSON carried in a ConfChange entry's context (listed with the other
 * entry formats in entry-codec.ts). `requestId` lets the proposing member
 * answer its client.
 */
interface ChangeContext {
  readonly requestId?: string;
  readonly member?: { memberId: string; name: string; peerUrls: string[]; clientUrls: string[] };
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

export function encodeChangeContext(requestId: string | undefined, member: MemberRecord | undefined): Uint8Array {
  const context: ChangeContext = {
    ...(requestId ? { requestId } : {}),
    ...(member ? { member: { memberId: member.memberId.toString(), name: member.name, peerUrls: [...member.peerUrls], clientUrls: [...member.clientUrls] } } : {}),
  };
  return encoder.encode(JSON.stringify(context));
}

/** A context this code did not write (an older entry has none) decodes as empty: membership still follows the ConfChange itself. */
export function decodeChangeContext(raftId: NodeId, bytes: Uint8Array | undefined): { requestId?: string; member?: MemberRecord } {
  if (!bytes || bytes.length === 0 || bytes.length > ENCODED_BYTES_MAX) return {};
  try {
    const parsed = JSON.parse(decoder.decode(bytes)) as ChangeContext;
    const out: { requestId?: string; member?: MemberRecord } = {};
    if (typeof parsed.requestId === 'string') out.requestId = parsed.requestId;
    const member = parsed.member;
    if (member && typeof member.memberId === 'string' && /^\d{1,20}$/.test(member.memberId)) {
      out.member = { raftId, memberId: BigInt(member.memberId), name: String(member.name ?? ''), peerUrls: stringList(member.peerUrls), clientUrls: stringList(member.clientUrls) };
    }
    return out;
  } catch {
    return {};
  }
}

function stringList(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string').slice(0, URLS_PER_MEMBER_MAX) : [];
}

/**
 * A membership command: MemberUpdate's new peer URLs, or a started member
 * publishing its name and client URLs. It rides in a normal entry of kind
 * EntryKind.Membership (entry-codec.ts), whose body is this JSON.
 */
export type MembershipCommand =
  | { readonly op: 'update'; readonly raftId: NodeId; readonly peerUrls: readonly string[]; readonly requestId?: string }
  | { readonly op: 'publish'; readonly raftId: NodeId; readonly name: string; readonly clientUrls: readonly string[]; readonly requestId?: string };

export function encodeMembershipCommandJson(command: MembershipCommand): Uint8Array {
  return encoder.encode(JSON.stringify(command));
}

/** undefined for JSON this code cannot read (damaged, or an op a newer version added): every member skips it alike. */
export function decodeMembershipCommandJson(json: Uint8Array): MembershipCommand | undefined {
  // The bound has always counted the entry's tag byte in front of the JSON.
  if (json.length + 1 > ENCODED_BYTES_MAX) return undefined;
  try {
    const parsed = JSON.parse(decoder.decode(json)) as Record<string, unknown>;
    const requestId = typeof parsed.requestId === 'string' ? { requestId: parsed.requestId } : {};
    if (typeof parsed.raftId !== 'string') return undefined;
    if (parsed.op === 'update') return { op: 'update', raftId: parsed.raftId, peerUrls: stringList(parsed.peerUrls), ...requestId };
    if (parsed.op === 'publish' && typeof parsed.name === 'string') return { op: 'publish', raftId: parsed.raftId, name: parsed.name, clientUrls: stringList(parsed.clientUrls), ...requestId };
    return undefined;
  } catch {
    return undefined;
  }
}

// ------------------------------------------------------------------ the table

/** What applying one entry changed, for the transport and for waiting requests. */
export interface MembershipEffect {
  readonly requestId?: string;
  /** Set or changed peer addresses: raft id -> host:port. */
  readonly addresses: ReadonlyMap<NodeId, string>;
  readonly removed?: NodeId;
}

export class MembershipTable {
  readonly #members = new Map<NodeId, MemberRecord>();
  /** Insertion-ordered, so the oldest is forgotten first past REMOVED_MEMBERS_MAX. */
  readonly #removed = new Set<NodeId>();
  readonly #clusterName: string;
  /** Founders' addresses from this process's flags: used for members whose entries carry no record (logs written before records existed). */
  readonly #fallbackPeers: Readonly<Record<string, string>>;
  readonly #fallbackClientUrls: Readonly<Record<string, string>>;

  constructor(clusterName: string, fallbackPeers: Readonly<Record<string, string>>, fallbackClientUrls: Readonly<Record<string, string>>) {
    this.#clusterName = clusterName;
    this.#fallbackPeers = fallbackPeers;
    this.#fallbackClientUrls = fallbackClientUrls;
  }

  /** The record for a raft id; a founder without one gets its record from the flags. */
  get(raftId: NodeId): MemberRecord | undefined {
    return this.#members.get(raftId) ?? this.#fallback(raftId);
  }

  isRemoved(raftId: NodeId): boolean {
    return this.#removed.has(raftId);
  }

  /** The member whose record lists `peerUrl`, if any. */
  byPeerUrl(peerUrl: string, members: readonly NodeId[]): MemberRecord | undefined {
    for (const id of members) {
      const record = this.get(id);
      if (record?.peerUrls.includes(peerUrl)) return record;
    }
    return undefined;
  }

  byMemberId(memberId: bigint, members: readonly NodeId[]): MemberRecord | undefined {
    for (const id of members) {
      const record = this.get(id);
      if (record?.memberId === memberId) return record;
    }
    return undefined;
  }

  /** The record a founder gets: its name is its raft id, its addresses from the flags of the member that bootstraps. */
  founderRecord(raftId: NodeId): MemberRecord {
    const peer = this.#fallbackPeers[raftId];
    const client = this.#fallbackClientUrls[raftId];
    return { raftId, memberId: memberIdOf(this.#clusterName, raftId), name: raftId, peerUrls: peer ? [`http://${peer}`] : [], clientUrls: client ? [client] : [] };
  }

  #fallback(raftId: NodeId): MemberRecord | undefined {
    return raftId in this.#fallbackPeers ? this.founderRecord(raftId) : undefined;
  }

  applyConfChange(change: ConfChange): MembershipEffect {
    const { requestId, member } = decodeChangeContext(change.nodeId, change.context);
    const addresses = new Map<NodeId, string>();
    if (change.type === ConfChangeType.Remove) {
      this.#members.delete(change.nodeId);
      this.#remember(change.nodeId);
      return { ...(requestId ? { requestId } : {}), addresses, removed: change.nodeId };
    }
    if (member && this.#members.size < MEMBERS_MAX) this.#members.set(change.nodeId, member);
    const record = this.get(change.nodeId);
    const url = record?.peerUrls[0];
    if (url) addresses.set(change.nodeId, peerAddressOf(url));
    return { ...(requestId ? { requestId } : {}), addresses };
  }

  applyCommand(command: MembershipCommand): MembershipEffect {
    const addresses = new Map<NodeId, string>();
    const requestId = command.requestId ? { requestId: command.requestId } : {};
    const record = this.get(command.raftId);
    if (!record) return { ...requestId, addresses };
    if (command.op === 'update') {
      this.#members.set(command.raftId, { ...record, peerUrls: [...command.peerUrls] });
      if (command.peerUrls[0]) addresses.set(command.raftId, peerAddressOf(command.peerUrls[0]));
    } else {
      this.#members.set(command.raftId, { ...record, name: command.name, clientUrls: [...command.clientUrls] });
    }
    return { ...requestId, addresses };
  }

  #remember(raftId: NodeId): void {
    this.#removed.delete(raftId);
    this.#removed.add(raftId);
    while (this.#removed.size > REMOVED_MEMBERS_MAX) this.#removed.delete(this.#removed.values().next().value!);
  }

  /** Every known address for the members of `conf`, for the transport. */
  addresses(conf: ConfState): Map<NodeId, string> {
    const out = new Map<NodeId, string>();
    for (const id of [...conf.voters, ...conf.learners]) {
      const url = this.get(id)?.peerUrls[0];
      if (url) out.set(id, peerAddressOf(url));
    }
    return out;
  }

  // ---------------------------------------------------------------- snapshots

  encode(): Uint8Array {
    const members = [...this.#members.values()].map((m) => ({ raftId: m.raftId, memberId: m.memberId.toString(), name: m.name, peerUrls: m.peerUrls, clientUrls: m.clientUrls }));
    return encoder.encode(JSON.stringify({ members, removed: [...this.#removed] }));
  }

  restore(bytes: Uint8Array): void {
    this.#members.clear();
    this.#removed.clear();
    if (bytes.length === 0) return;
    const parsed = JSON.parse(decoder.decode(bytes)) as { members?: unknown[]; removed?: unknown[] };
    for (const raw of (parsed.members ?? []).slice(0, MEMBERS_MAX)) {
      const m = raw as Record<string, unknown>;
      if (typeof m.raftId !== 'string' || typeof m.memberId !== 'string' || !/^\d{1,20}$/.test(m.memberId)) continue;
      this.#members.set(m.raftId, { raftId: m.raftId, memberId: BigInt(m.memberId), name: String(m.name ?? ''), peerUrls: stringList(m.peerUrls), clientUrls: stringList(m.clientUrls) });
    }
    for (const id of (parsed.removed ?? []).slice(-REMOVED_MEMBERS_MAX)) if (typeof id === 'string') this.#removed.add(id);
  }
}

/**
 * Snapshot data: [magic "KEELMB"][format 1][membership length: u32 BE][membership JSON][store snapshot].
 * A snapshot without the magic (written before membership was replicated) is all store data.
 */
const SNAPSHOT_MAGIC = [0x4b, 0x45, 0x45, 0x4c, 0x4d, 0x42];
const SNAPSHOT_FORMAT = 1;
const SNAPSHOT_HEADER_BYTES = SNAPSHOT_MAGIC.length + 1 + 4;

export function wrapSnapshot(membership: Uint8Array, store: Uint8Array): Uint8Array {
  const prefix = snapshotPrefix(membership);
  const out = new Uint8Array(prefix.length + store.length);
  out.set(prefix, 0);
  out.set(store, prefix.length);
  return out;
}

/** What {@link wrapSnapshot} puts before the store's bytes: a member streaming a snapshot writes this, then the store's chunks. */
export function snapshotPrefix(membership: Uint8Array): Uint8Array {
  const out = new Uint8Array(SNAPSHOT_HEADER_BYTES + membership.length);
  out.set(SNAPSHOT_MAGIC, 0);
  out[SNAPSHOT_MAGIC.length] = SNAPSHOT_FORMAT;
  new DataView(out.buffer).setUint32(SNAPSHOT_MAGIC.length + 1, membership.length);
  out.set(membership, SNAPSHOT_HEADER_BYTES);
  return out;
}

export function unwrapSnapshot(data: Uint8Array): { membership: Uint8Array | undefined; store: Uint8Array } {
  const marked = data.length >= SNAPSHOT_HEADER_BYTES && SNAPSHOT_MAGIC.every((byte, i) => data[i] === byte) && data[SNAPSHOT_MAGIC.length] === SNAPSHOT_FORMAT;
  if (!marked) return { membership: undefined, store: data };
  const length = new DataView(data.buffer, data.byteOffset, data.byteLength).getUint32(SNAPSHOT_MAGIC.length + 1);
  const end = SNAPSHOT_HEADER_BYTES + length;
  if (end > data.length) throw new RangeError('snapshot membership section is truncated');
  return { membership: data.subarray(SNAPSHOT_HEADER_BYTES, end), store: data.subarray(end) };
}
