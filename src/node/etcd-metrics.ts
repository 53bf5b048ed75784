import { Counter, Gauge, Histogram } from 'prom-client';
import type { Registry } from 'prom-client';

/**
 * etcd's own series names, so etcd's Grafana dashboard and its mixin's
 * alerts work on a keel cluster unchanged. Names, types, label names and
 * bucket boundaries are etcd's (server/etcdserver/metrics.go,
 * server/storage/wal/metrics.go, server/storage/backend/metrics.go,
 * server/etcdserver/api/rafthttp/metrics.go). Nothing here is updated on its
 * own: NodeMetrics updates these and keel's names from the same event.
 * docs/metrics.md says what each one measures in keel.
 */

/** etcd's prometheus.ExponentialBuckets(start, 2, count). */
function doubling(start: number, count: number): number[] {
  return Array.from({ length: count }, (_, index) => start * 2 ** index);
}

/** etcd's WAL fsync and backend commit buckets: 1 ms to 8.192 s. */
export const ETCD_DISK_BUCKETS = doubling(0.001, 14);
/** etcd's peer round-trip buckets: 0.1 ms to 0.8192 s. */
export const ETCD_PEER_ROUND_TRIP_BUCKETS = doubling(0.0001, 14);

/**
 * What the member's per-Ready gauges show, kept as plain numbers and handed
 * to prom-client only when scraped: a gauge's `set` allocates (an entry per
 * label set), and a dozen sets per Ready, several Readies per put, were
 * about 5% of a follower's allocations under a single client's puts (a
 * sampling heap profile), garbage that brings the next young-generation
 * pause nearer.
 */
export interface LiveValues {
  term: number;
  commit: number;
  applied: number;
  pending: number;
  usedBytes: number;
  quotaBytes: number;
  keys: number;
}

/** A gauge's `collect` that sets it to `read()` (prom-client calls it with the gauge as `this`). */
export function setTo(read: () => number): (this: Gauge) => void {
  return function collect(this: Gauge): void {
    this.set(read());
  };
}

export class EtcdMetrics {
  readonly hasLeader: Gauge;
  readonly isLeader: Gauge;
  readonly leaderChanges: Counter;
  /** A gauge in etcd despite `_total`: the commit index. */
  readonly proposalsCommitted: Gauge;
  /** A gauge in etcd despite `_total`: the applied index. */
  readonly proposalsApplied: Gauge;
  readonly proposalsPending: Gauge;
  readonly proposalsFailed: Counter;
  readonly walFsyncSeconds: Histogram;
  readonly backendCommitSeconds: Histogram;
  readonly peerRoundTripSeconds: Histogram<'To'>;
  readonly peerSentBytes: Counter<'To'>;
  readonly peerReceivedBytes: Counter<'From'>;
  readonly peerSentFailures: Counter<'To'>;
  readonly clientReceivedBytes: Counter;
  readonly clientSentBytes: Counter;
  readonly dbTotalSizeBytes: Gauge;
  readonly dbInUseBytes: Gauge;
  readonly quotaBackendBytes: Gauge;
  readonly keys: Gauge;

  /**
   * `collectClientBytes` brings the client byte counters up to date; it runs
   * when they are scraped. The gauges that move on every Ready read `live`
   * when scraped (see {@link LiveValues}).
   */
  constructor(registry: Registry, collectClientBytes: () => void, live: Readonly<LiveValues>) {
    const registers = [registry];
    this.hasLeader = new Gauge({ name: 'etcd_server_has_leader', help: 'Whether or not a leader exists. 1 is existence, 0 is not.', registers });
    this.isLeader = new Gauge({ name: 'etcd_server_is_leader', help: 'Whether or not this member is a leader. 1 if is, 0 otherwise.', registers });
    this.leaderChanges = new Counter({ name: 'etcd_server_leader_changes_seen_total', help: 'The number of leader changes seen.', registers });
    this.proposalsCommitted = new Gauge({ name: 'etcd_server_proposals_committed_total', help: 'The total number of consensus proposals committed (the commit index).', registers, collect: setTo(() => live.commit) });
    this.proposalsApplied = new Gauge({ name: 'etcd_server_proposals_applied_total', help: 'The total number of consensus proposals applied (the applied index).', registers, collect: setTo(() => live.applied) });
    this.proposalsPending = new Gauge({ name: 'etcd_server_proposals_pending', help: 'The current number of pending proposals to commit.', registers, collect: setTo(() => live.pending) });
    this.proposalsFailed = new Counter({ name: 'etcd_server_proposals_failed_total', help: 'The total number of failed proposals seen.', registers });
    this.walFsyncSeconds = new Histogram({
      name: 'etcd_disk_wal_fsync_duration_seconds', help: 'The latency distributions of fsync called by WAL (keel: one group-committed Ready).', buckets: ETCD_DISK_BUCKETS, registers,
    });
    this.backendCommitSeconds = new Histogram({
      name: 'etcd_disk_backend_commit_duration_seconds',
      help: 'keel has no bolt backend: the time to apply one batch of committed entries to the store (same event as keel_apply_duration_seconds).',
      buckets: ETCD_DISK_BUCKETS,
      registers,
    });
    this.peerRoundTripSeconds = new Histogram({
      name: 'etcd_network_peer_round_trip_time_seconds', help: 'Round-Trip-Time histogram between peers.', labelNames: ['To'] as const, buckets: ETCD_PEER_ROUND_TRIP_BUCKETS, registers,
    });
    this.peerSentBytes = new Counter({ name: 'etcd_network_peer_sent_bytes_total', help: 'The total number of bytes sent to peers.', labelNames: ['To'] as const, registers });
    this.peerReceivedBytes = new Counter({ name: 'etcd_network_peer_received_bytes_total', help: 'The total number of bytes received from peers.', labelNames: ['From'] as const, registers });
    this.peerSentFailures = new Counter({
      name: 'etcd_network_peer_sent_failures_total', help: 'The total number of send failures to peers (keel: messages dropped for overload and connection failures).', labelNames: ['To'] as const, registers,
    });
    this.clientReceivedBytes = new Counter({ name: 'etcd_network_client_grpc_received_bytes_total', help: 'The total number of bytes received from clients on the client port (gRPC and JSON).', collect: collectClientBytes, registers });
    this.clientSentBytes = new Counter({ name: 'etcd_network_client_grpc_sent_bytes_total', help: 'The total number of bytes sent to clients on the client port (gRPC and JSON).', collect: collectClientBytes, registers });
    this.dbTotalSizeBytes = new Gauge({ name: 'etcd_mvcc_db_total_size_in_bytes', help: 'Total size of the store in bytes (what the space quota counts).', registers, collect: setTo(() => live.usedBytes) });
    this.dbInUseBytes = new Gauge({ name: 'etcd_mvcc_db_total_size_in_use_in_bytes', help: 'Size of the store in use in bytes (keel keeps no free pages: equal to the total).', registers, collect: setTo(() => live.usedBytes) });
    this.quotaBackendBytes = new Gauge({ name: 'etcd_server_quota_backend_bytes', help: 'Current backend storage quota size in bytes.', registers, collect: setTo(() => live.quotaBytes) });
    this.keys = new Gauge({ name: 'etcd_debugging_mvcc_keys_total', help: 'Total number of keys.', registers, collect: setTo(() => live.keys) });
  }
}
