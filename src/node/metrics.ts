import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { EtcdMetrics, type LiveValues, setTo } from './etcd-metrics.js';
import { RpcMetrics } from './rpc-metrics.js';

/** What the client port needs to count a connection's traffic (a net.Socket). */
export interface CountedSocket {
  readonly bytesRead: number;
  readonly bytesWritten: number;
  once(event: 'close', listener: () => void): unknown;
}

/** Peer counters as the transport reports them (running totals since the member started). */
export interface PeerTotals {
  readonly sentBytes: number;
  readonly receivedBytes: number;
  readonly droppedMessages: number;
}

/**
 * The member's Prometheus metrics: the quorum-health set operators watch
 * under keel's names (`keel_*`, base units) and under etcd's own names
 * (etcd-metrics.ts, rpc-metrics.ts) so etcd's dashboard and alerts work,
 * plus Node's default process metrics. Each fact is recorded by one method
 * here, which updates both names from the same event (no second timer).
 * One registry per member, so tests can run several members in one process.
 */
export class NodeMetrics {
  readonly registry = new Registry();
  /** The per-Ready values, read by their gauges when scraped (see LiveValues). */
  readonly #live: LiveValues = { term: 0, commit: 0, applied: 0, pending: 0, usedBytes: 0, quotaBytes: 0, keys: 0 };
  readonly hasLeader = new Gauge({ name: 'keel_raft_has_leader', help: '1 if this member knows a leader, else 0', registers: [this.registry] });
  readonly isLeader = new Gauge({ name: 'keel_raft_is_leader', help: '1 if this member is the leader, else 0', registers: [this.registry] });
  readonly leaderChanges = new Counter({ name: 'keel_raft_leader_changes_seen_total', help: 'Leader changes this member has seen', registers: [this.registry] });
  readonly ticksDropped = new Counter({ name: 'keel_raft_ticks_dropped_total', help: 'Raft ticks not run because the event loop stalled for longer than two ticks', registers: [this.registry] });
  readonly term = new Gauge({ name: 'keel_raft_term', help: 'Current raft term', registers: [this.registry], collect: setTo(() => this.#live.term) });
  readonly commitIndex = new Gauge({ name: 'keel_raft_commit_index', help: 'Highest log index known committed', registers: [this.registry], collect: setTo(() => this.#live.commit) });
  readonly appliedIndex = new Gauge({ name: 'keel_raft_applied_index', help: 'Highest log index applied to the state machine', registers: [this.registry], collect: setTo(() => this.#live.applied) });
  readonly proposalsCommitted = new Counter({ name: 'keel_raft_proposals_committed_total', help: 'Proposals from this member that committed and applied', registers: [this.registry] });
  readonly proposalsFailed = new Counter({ name: 'keel_raft_proposals_failed_total', help: 'Proposals from this member that were refused, dropped or timed out', registers: [this.registry] });
  readonly proposalsPending = new Gauge({ name: 'keel_raft_proposals_pending', help: 'Proposals from this member waiting to apply', registers: [this.registry], collect: setTo(() => this.#live.pending) });
  readonly logHeldBytes = new Gauge({
    name: 'keel_raft_log_held_bytes',
    help: 'Bytes of raft log entries held in memory with their data (applied entries past logCacheBytes are read back from the WAL when needed)',
    registers: [this.registry],
    collect: setTo(() => this.#logHeldBytes),
  });
  readonly logEntriesReadBack = new Counter({ name: 'keel_raft_log_entries_read_back_total', help: 'Raft log entries read back from the WAL (a follower catching up on entries no longer held in memory)', registers: [this.registry] });
  #logHeldBytes = 0;
  #logEntriesReadBack = 0;
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
  readonly watchPendingBytes = new Gauge({
    name: 'keel_watch_pending_bytes',
    help: "Bytes of watch responses this member holds for clients that have not read them yet (each stream's share is bounded)",
    registers: [this.registry],
  });
  readonly peerSentBytes = new Counter({ name: 'keel_peer_sent_bytes_total', help: 'Bytes sent to each peer', labelNames: ['peer'] as const, registers: [this.registry] });
  readonly peerReceivedBytes = new Counter({ name: 'keel_peer_received_bytes_total', help: 'Bytes received from each peer', labelNames: ['peer'] as const, registers: [this.registry] });
  readonly requests: Counter<'endpoint' | 'code'> = new Counter({
    name: 'keel_api_requests_total',
    help: 'Client API requests by endpoint and outcome code',
    labelNames: ['endpoint', 'code'] as const,
    registers: [this.registry],
    // RPC calls are tallied off the call path (rpc-metrics.ts) and handed over when any of their metrics is read.
    collect: (): void => this.rpc.flush(),
  });
  /** How the client port passed gRPC connections to grpc-js (api/client-port.ts): `direct`, or over the `hop` with the :authority rewriter. */
  readonly grpcConnections = new Counter({
    name: 'keel_api_grpc_connections_total',
    help: 'gRPC connections on the client port by how they reach grpc-js: direct, or hop (the loopback hop with the :authority rewriter)',
    labelNames: ['path'] as const,
    registers: [this.registry],
  });
  readonly dbSizeBytes = new Gauge({ name: 'keel_store_size_bytes', help: 'What the key-value state counts against the space quota', registers: [this.registry], collect: setTo(() => this.#live.usedBytes) });
  readonly quotaUsedRatio = new Gauge({
    name: 'keel_store_quota_used_ratio',
    help: 'keel_store_size_bytes over the space quota (a NOSPACE alarm is raised when a write would pass 1)',
    registers: [this.registry],
    collect: setTo(() => (this.#live.quotaBytes > 0 ? this.#live.usedBytes / this.#live.quotaBytes : 0)),
  });
  readonly alarmsActive = new Gauge({ name: 'keel_store_alarms_active', help: 'Active alarms by type (replicated state: every member reports the same)', labelNames: ['alarm'] as const, registers: [this.registry] });

  // Client traffic is read from the sockets at scrape time, so the data path pays nothing per byte.
  readonly etcd = new EtcdMetrics(this.registry, () => this.#reportClientBytes(), this.#live);
  /** gRPC calls, and JSON gateway calls under the gRPC method they map to; counts keel_api_requests_total too. */
  readonly rpc: RpcMetrics = new RpcMetrics(this.registry, this.requests);
  /** The Prometheus process collector's name etcd's dashboard charts (keel's default metrics carry the keel_ prefix). */
  readonly residentMemoryBytes = new Gauge({
    name: 'process_resident_memory_bytes',
    help: 'Resident memory size in bytes.',
    registers: [this.registry],
    collect() {
      this.set(process.memoryUsage.rss());
    },
  });
  /** Transport totals last reported per peer, to turn them into counter increments. */
  readonly #peerTotals = new Map<string, PeerTotals>();
  readonly #clientSockets = new Set<CountedSocket>();
  #clientClosedBytes = { read: 0, written: 0 };
  #clientReported = { read: 0, written: 0 };

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'keel_' });
  }

  leaderObserved(hasLeader: boolean, isLeader: boolean): void {
    for (const gauge of [this.hasLeader, this.etcd.hasLeader]) gauge.set(hasLeader ? 1 : 0);
    for (const gauge of [this.isLeader, this.etcd.isLeader]) gauge.set(isLeader ? 1 : 0);
  }

  leaderChanged(): void {
    this.leaderChanges.inc();
    this.etcd.leaderChanges.inc();
  }

  /** Raft progress after a Ready: etcd's proposals_committed/applied_total are these indexes. */
  raftProgress(term: number, commitIndex: number, appliedIndex: number): void {
    this.#live.term = term;
    this.#live.commit = commitIndex;
    this.#live.applied = appliedIndex;
  }

  /** The in-memory log after a Ready: its held bytes and the running total of entries read back. */
  logObserved(heldBytes: number, entriesReadBack: number): void {
    this.#logHeldBytes = heldBytes;
    if (entriesReadBack > this.#logEntriesReadBack) this.logEntriesReadBack.inc(entriesReadBack - this.#logEntriesReadBack);
    this.#logEntriesReadBack = entriesReadBack;
  }

  proposalCommitted(): void {
    this.proposalsCommitted.inc();
  }

  proposalFailed(): void {
    this.proposalsFailed.inc();
    this.etcd.proposalsFailed.inc();
  }

  proposalsPendingNow(count: number): void {
    this.#live.pending = count;
  }

  walSynced(seconds: number): void {
    this.walFsyncSeconds.observe(seconds);
    this.etcd.walFsyncSeconds.observe(seconds);
  }

  /** A batch of committed entries applied: keel's apply duration, and etcd's backend commit duration (keel's equivalent, see docs/metrics.md). */
  batchApplied(seconds: number): void {
    this.applySeconds.observe(seconds);
    this.etcd.backendCommitSeconds.observe(seconds);
  }

  /** Authenticate calls by outcome: ok, failed (wrong name or password), limited (refused before the password was checked). */
  readonly authenticateAttempts = new Counter({
    name: 'keel_auth_authenticate_total',
    help: 'Authenticate calls by outcome: ok, failed (wrong user or password), limited (too many failures; no password check)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  /** bcrypt comparisons made by Authenticate (a refused attempt makes none). */
  readonly authPasswordChecks = new Counter({
    name: 'keel_auth_password_checks_total',
    help: 'Password hashes compared by Authenticate',
    registers: [this.registry],
  });

  readonly peerCertificatesRejected = new Counter({
    name: 'keel_peer_certificates_rejected_total',
    help: 'Inbound peer TLS connections refused: certificate missing, untrusted, or CommonName not allowed',
    registers: [this.registry],
  });
  #peerCertificatesRejectedSeen = 0;

  /** The transport's running total of refused peer certificates; the counter advances by the difference. */
  peerCertificatesRejectedTotal(total: number): void {
    if (total > this.#peerCertificatesRejectedSeen) this.peerCertificatesRejected.inc(total - this.#peerCertificatesRejectedSeen);
    this.#peerCertificatesRejectedSeen = total;
  }

  peerRoundTrip(peer: string, seconds: number): void {
    this.peerRoundTripSeconds.observe({ peer }, seconds);
    this.etcd.peerRoundTripSeconds.observe({ To: peer }, seconds);
  }

  /** A connection to the peer failed or was lost (the transport's unreachable report). */
  peerUnreachable(peer: string): void {
    this.etcd.peerSentFailures.inc({ To: peer });
  }

  /** The transport's running totals for a peer; counters advance by the difference since the last report. */
  peerTotals(peer: string, totals: PeerTotals): void {
    const known = this.#peerTotals.get(peer);
    // A peer's failure series exists (at 0) from the first report, so rate() over it works before any failure.
    if (!known) this.etcd.peerSentFailures.inc({ To: peer }, 0);
    const previous = known ?? { sentBytes: 0, receivedBytes: 0, droppedMessages: 0 };
    const sent = totals.sentBytes - previous.sentBytes;
    const received = totals.receivedBytes - previous.receivedBytes;
    const dropped = totals.droppedMessages - previous.droppedMessages;
    if (sent > 0) {
      this.peerSentBytes.inc({ peer }, sent);
      this.etcd.peerSentBytes.inc({ To: peer }, sent);
    }
    if (received > 0) {
      this.peerReceivedBytes.inc({ peer }, received);
      this.etcd.peerReceivedBytes.inc({ From: peer }, received);
    }
    if (dropped > 0) this.etcd.peerSentFailures.inc({ To: peer }, dropped);
    this.#peerTotals.set(peer, {
      sentBytes: Math.max(totals.sentBytes, previous.sentBytes),
      receivedBytes: Math.max(totals.receivedBytes, previous.receivedBytes),
      droppedMessages: Math.max(totals.droppedMessages, previous.droppedMessages),
    });
  }

  /** The store's size (what the quota counts; not the WAL's preallocated files), its quota and its key count. */
  storeObserved(usedBytes: number, quotaBytes: number, keys: number): void {
    this.#live.usedBytes = usedBytes;
    this.#live.quotaBytes = quotaBytes;
    this.#live.keys = keys;
  }

  /** Counts a client-port connection's bytes from now until it closes. */
  trackClientSocket(socket: CountedSocket): void {
    this.#clientSockets.add(socket);
    socket.once('close', () => {
      this.#clientSockets.delete(socket);
      this.#clientClosedBytes.read += socket.bytesRead;
      this.#clientClosedBytes.written += socket.bytesWritten;
    });
  }

  #reportClientBytes(): void {
    let read = this.#clientClosedBytes.read;
    let written = this.#clientClosedBytes.written;
    for (const socket of this.#clientSockets) {
      read += socket.bytesRead;
      written += socket.bytesWritten;
    }
    if (read > this.#clientReported.read) this.etcd.clientReceivedBytes.inc(read - this.#clientReported.read);
    if (written > this.#clientReported.written) this.etcd.clientSentBytes.inc(written - this.#clientReported.written);
    this.#clientReported = { read: Math.max(read, this.#clientReported.read), written: Math.max(written, this.#clientReported.written) };
  }
}
