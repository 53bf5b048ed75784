import { ConfigError } from './errors.js';
import type { Random } from './random.js';
import type { LogStorage } from './storage.js';
import type { NodeId, ReadOnlyOption } from './types.js';

/** Options for one raft member. Every bound has a default documented here. */
export interface RaftConfig {
  readonly id: NodeId;
  /** The stable log, already holding whatever was persisted before a restart. */
  readonly storage: LogStorage;
  /** The only source of randomness (election timeouts). */
  readonly random: Random;
  /** Ticks without hearing from a leader before campaigning; randomized in [n, 2n). Default 10 (etcd: 10 x 100 ms). */
  readonly electionTicks?: number;
  /** Ticks between leader heartbeats; must be < electionTicks. Default 1. */
  readonly heartbeatTicks?: number;
  /** Last index the state machine applied before a restart, when it persists its own state. Default: the snapshot index. */
  readonly applied?: number;
  /** Bytes of entries per append message. Default 1 MiB (etcd's default). */
  readonly maxSizePerMessageBytes?: number;
  /** Bytes of committed entries handed out per Ready. Default 64 MiB. */
  readonly maxCommittedSizePerReadyBytes?: number;
  /** Unacknowledged append messages per follower in pipelined mode. Default 256 (etcd's default). */
  readonly maxInflightMessages?: number;
  /** Unacknowledged bytes per follower in pipelined mode; 0 = no byte bound. Default 32 MiB. */
  readonly maxInflightBytes?: number;
  /** Bytes of appended but uncommitted entries before proposals are dropped. Default 64 MiB. */
  readonly maxUncommittedEntriesBytes?: number;
  /** ReadIndex requests waiting at the leader before new ones are dropped. Default 4096. */
  readonly maxPendingReads?: number;
  /** Leader steps down when it cannot hear a majority for an election timeout; followers honour a leader lease. Default true. */
  readonly checkQuorum?: boolean;
  /** Run a pre-election that does not bump terms, so a rejoining node cannot disrupt the cluster. Default true. */
  readonly preVote?: boolean;
  /** How ReadIndex confirms leadership. Default 'safe' (a heartbeat round). */
  readonly readOnlyOption?: ReadOnlyOption;
  /** Ticks subtracted from the leader lease to absorb clock-rate differences. Default 2. */
  readonly leaseMarginTicks?: number;
  /** Followers reject proposals with NotLeaderError instead of forwarding them. Default false. */
  readonly disableProposalForwarding?: boolean;
  /** Send appends once per Ready (all proposals since the last one in one message) instead of once per proposal. Default true. */
  readonly batchAppends?: boolean;
  /** A learner is promoted only when its match index is within this many entries of the leader's last index. Default 1000. */
  readonly learnerPromotionLagMax?: number;
  /**
   * The caller persists a Ready asynchronously and may send `Ready.earlyMessages`
   * (the leader's appends and heartbeats) before the Ready's entries are
   * durable, as etcd-io/raft's AsyncStorageWrites allows (Raft thesis
   * §10.2.1). The leader then counts itself toward the commit quorum only for
   * entries acknowledged durable by `advance()`, never at append time.
   * Default false: everything in `messages`, sent after the persist, and the
   * leader counts its own entries at once (safe then, since nothing leaves
   * before they are durable).
   */
  readonly asyncStorageWrites?: boolean;
}

export type ResolvedRaftConfig = Required<Omit<RaftConfig, 'applied'>> & { readonly applied: number };

export function resolveConfig(config: RaftConfig): ResolvedRaftConfig {
  const resolved: ResolvedRaftConfig = {
    id: config.id,
    storage: config.storage,
    random: config.random,
    electionTicks: 10,
    heartbeatTicks: 1,
    applied: 0,
    maxSizePerMessageBytes: 1024 * 1024,
    maxCommittedSizePerReadyBytes: 64 * 1024 * 1024,
    maxInflightMessages: 256,
    maxInflightBytes: 32 * 1024 * 1024,
    maxUncommittedEntriesBytes: 64 * 1024 * 1024,
    maxPendingReads: 4096,
    checkQuorum: true,
    preVote: true,
    readOnlyOption: 'safe',
    leaseMarginTicks: 2,
    disableProposalForwarding: false,
    batchAppends: true,
    learnerPromotionLagMax: 1000,
    asyncStorageWrites: false,
    ...stripUndefined(config),
  };
  if (!resolved.id) throw new ConfigError('id must not be empty');
  if (resolved.heartbeatTicks <= 0) throw new ConfigError('heartbeatTicks must be positive');
  if (resolved.electionTicks <= resolved.heartbeatTicks) throw new ConfigError('electionTicks must be greater than heartbeatTicks');
  if (resolved.maxInflightMessages <= 0) throw new ConfigError('maxInflightMessages must be positive');
  if (resolved.maxSizePerMessageBytes <= 0) throw new ConfigError('maxSizePerMessageBytes must be positive');
  if (resolved.readOnlyOption === 'lease-based' && !resolved.checkQuorum) {
    throw new ConfigError('readOnlyOption lease-based requires checkQuorum');
  }
  if (resolved.leaseMarginTicks < 0 || resolved.leaseMarginTicks >= resolved.electionTicks) {
    throw new ConfigError('leaseMarginTicks must be in [0, electionTicks)');
  }
  return resolved;
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
