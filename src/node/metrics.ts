import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * The member's Prometheus metrics: the quorum-health set operators watch
 * (named as etcd's, with keel's prefix and base units) plus Node's default
 * process metrics. One registry per member, so tests can run several
 * members in one process.
 */
export class NodeMetrics {
  readonly registry = new Registry();
  readonly hasLeader = new Gauge({ name: 'keel_raft_has_leader', help: '1 if this member knows a leader, else 0', registers: [this.registry] });
  readonly isLeader = new Gauge({ name: 'keel_raft_is_leader', help: '1 if this member is the leader, else 0', registers: [this.registry] });
  readonly leaderChanges = new Counter({ name: 'keel_raft_leader_changes_seen_total', help: 'Leader changes this member has seen', registers: [this.registry] });
  readonly term = new Gauge({ name: 'keel_raft_term', help: 'Current raft term', registers: [this.registry] });
  readonly commitIndex = new Gauge({ name: 'keel_raft_commit_index', help: 'Highest log index known committed', registers: [this.registry] });
  readonly appliedIndex = new Gauge({ name: 'keel_raft_applied_index', help: 'Highest log index applied to the state machine', registers: [this.registry] });
  readonly proposalsCommitted = new Counter({ name: 'keel_raft_proposals_committed_total', help: 'Proposals from this member that committed and applied', registers: [this.registry] });
  readonly proposalsFailed = new Counter({ name: 'keel_raft_proposals_failed_total', help: 'Proposals from this member that were refused, dropped or timed out', registers: [this.registry] });
  readonly proposalsPending = new Gauge({ name: 'keel_raft_proposals_pending', help: 'Proposals from this member waiting to apply', registers: [this.registry] });
  readonly walFsyncSeconds = new Histogram({
    name: 'keel_wal_fsync_duration_seconds',
    help: 'Time to persist one Ready with fsync (group commit)',
    buckets: [0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024],
    registers: [this.registry],
  });
  readonly applySeconds = new Histogram({
    name: 'keel_apply_duration_seconds',
    help: 'Time to apply one batch of committed entries',
    buckets: [0.0001, 0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256],
    registers: [this.registry],
  });
  readonly snapshotSeconds = new Histogram({
    name: 'keel_snapshot_duration_seconds',
    help: 'Time to take and save a snapshot of the state machine',
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  readonly peerRoundTripSeconds = new Histogram({
    name: 'keel_peer_round_trip_seconds',
    help: 'Round trip time to each peer',
    labelNames: ['peer'] as const,
    buckets: [0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1],
    registers: [this.registry],
  });
  readonly leasesExpired = new Counter({ name: 'keel_lease_expired_total', help: 'Leases this member revoked as leader because they expired', registers: [this.registry] });
  readonly watchStreams = new Gauge({ name: 'keel_watch_streams', help: 'Open watch streams on this member', registers: [this.registry] });
  readonly watchers = new Gauge({ name: 'keel_watchers', help: 'Watchers on this member', labelNames: ['state'] as const, registers: [this.registry] });
  readonly peerSentBytes = new Counter({ name: 'keel_peer_sent_bytes_total', help: 'Bytes sent to each peer', labelNames: ['peer'] as const, registers: [this.registry] });
  readonly peerReceivedBytes = new Counter({ name: 'keel_peer_received_bytes_total', help: 'Bytes received from each peer', labelNames: ['peer'] as const, registers: [this.registry] });
  readonly requests = new Counter({
    name: 'keel_api_requests_total',
    help: 'Client API requests by endpoint and outcome code',
    labelNames: ['endpoint', 'code'] as const,
    registers: [this.registry],
  });
  readonly dbSizeBytes = new Gauge({ name: 'keel_store_size_bytes', help: 'What the key-value state counts against the space quota', registers: [this.registry] });
  readonly quotaUsedRatio = new Gauge({ name: 'keel_store_quota_used_ratio', help: 'keel_store_size_bytes over the space quota (a NOSPACE alarm is raised when a write would pass 1)', registers: [this.registry] });
  readonly alarmsActive = new Gauge({ name: 'keel_store_alarms_active', help: 'Active alarms by type (replicated state: every member reports the same)', labelNames: ['alarm'] as const, registers: [this.registry] });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'keel_' });
  }

  /** Counters track totals reported by the transport; this adds the difference since the last report. */
  addPeerBytes(peer: string, sentTotal: number, receivedTotal: number, last: Map<string, { sent: number; received: number }>): void {
    const previous = last.get(peer) ?? { sent: 0, received: 0 };
    if (sentTotal > previous.sent) this.peerSentBytes.inc({ peer }, sentTotal - previous.sent);
    if (receivedTotal > previous.received) this.peerReceivedBytes.inc({ peer }, receivedTotal - previous.received);
    last.set(peer, { sent: Math.max(sentTotal, previous.sent), received: Math.max(receivedTotal, previous.received) });
  }
}
