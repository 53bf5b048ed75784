import { SeededRandom } from '../src/raft/random.js';
import { bootstrapLog } from '../src/raft/bootstrap.js';
import type { ConfChange, Entry, HardState, Message, NodeId } from '../src/raft/types.js';
import { ConfChangeType, MessageType } from '../src/raft/types.js';
import { MemoryDisk, MemoryRaftStorage } from '../src/storage/memory-raft-storage.js';
import { EventQueue } from './event-queue.js';
import { checkLeaderCompleteness } from './invariants/leader-completeness.js';
import { ElectionSafety } from './invariants/election-safety.js';
import { LinearizableReads } from './invariants/linearizable-reads.js';
import { LogMatching } from './invariants/log-matching.js';
import { StateMachineSafety } from './invariants/state-machine-safety.js';
import { LivenessFailure } from './invariants/violation.js';
import { decodeLeaseRevoke, decodeWrite, readRegister } from './kv.js';
import { LeaseSafety } from './invariants/lease-safety.js';
import { SimNode } from './node.js';
import type { NodeHost, Plants } from './node.js';
import type { SimOptions } from './options.js';

type SimEvent =
  | { readonly kind: 'tick'; readonly node: NodeId; readonly epoch: number }
  | { readonly kind: 'deliver'; readonly message: Message; readonly senderEpoch: number }
  | { readonly kind: 'client'; readonly client: number }
  | { readonly kind: 'client-timeout'; readonly client: number; readonly operation: number }
  | { readonly kind: 'lease-client' }
  | { readonly kind: 'chaos' }
  | { readonly kind: 'heal-partition'; readonly partition: number }
  | { readonly kind: 'restart'; readonly node: NodeId }
  | { readonly kind: 'resume'; readonly node: NodeId }
  | { readonly kind: 'snapshot-status'; readonly from: NodeId; readonly to: NodeId; readonly failed: boolean }
  | { readonly kind: 'persist-done'; readonly node: NodeId; readonly epoch: number; readonly complete: () => void }
  | { readonly kind: 'restore-slice'; readonly node: NodeId; readonly epoch: number; readonly slice: () => void }
  | { readonly kind: 'apply-step'; readonly node: NodeId; readonly epoch: number; readonly slice: () => void };

/** Counters reported for a run. */
export interface SimStats {
  steps: number;
  simulatedMs: number;
  leaderElections: number;
  maxTerm: number;
  writesAcknowledged: number;
  /** Writes the store refused for space (seeds with a small quota). */
  writesRefused: number;
  readsChecked: number;
  /** Grants and keep-alives a lease client got a TTL for, and expiry revokes checked against them. */
  leaseRenewals: number;
  leaseRevokes: number;
  messagesDelivered: number;
  messagesDropped: number;
  crashes: number;
  pauses: number;
  partitions: number;
  snapshotsSent: number;
  /** Slices of followers' sliced snapshot restores run (options.restoreStepWork > 0). */
  restoreSlices: number;
  /** Steps of DeleteRanges applied in steps run (options.deleteStepKeys > 0). */
  applySteps: number;
  /** Log entries read back from a member's storage after the loop let go of their data (options.logCacheBytes >= 0). */
  entriesReadBack: number;
  membershipChanges: number;
  transfers: number;
  livenessPhases: number;
  /** Longest recovery seen in a liveness phase, in ticks. */
  recoveryTicksMax: number;
}

interface ClientState {
  operation: number;
  busy: boolean;
  kind?: 'read' | 'write';
  requestId?: string;
  key?: string;
  floor?: number;
  target?: NodeId;
}

const MICROS_PER_MS = 1000;
/** Chaos decisions are drawn every 10 ms of simulated time. */
const CHAOS_INTERVAL_US = 10 * MICROS_PER_MS;
/** Longest wait between two slices of a sliced restore (a member's other work between its slices). */
const RESTORE_SLICE_DELAY_US_MAX = 1 * MICROS_PER_MS;
/** Chance that a client operation is a sweep (options.deleteStepKeys > 0): a fill three times in four, else a clear. */
const SWEEP_CHANCE = 0.05;
/** Chance that the lease client's next keep-alive comes after the TTL instead of within it. */
const LEASE_CLIENT_STALL_CHANCE = 0.1;
const CLIENT_TIMEOUT_US = 400 * MICROS_PER_MS;
const LIVENESS_PROBE_INTERVAL_US = 50 * MICROS_PER_MS;
/** Bound on events parked for a paused node. */
const PARKED_EVENTS_MAX = 10_000;
/** Share of a crashed sender's in-flight messages that never arrive. */
const SENDER_CRASH_LOSS = 0.7;
const PROBE_RETRY_US = 300 * MICROS_PER_MS;
const PROBE_KEY = 'probe';

/**
 * A deterministic world for a raft cluster: a fake clock (the event queue's
 * time), a fake network that loses, duplicates, delays, reorders and
 * partitions, fake disks that lose unsynced writes in a crash, and clients
 * whose history is checked. Every choice comes from one seeded PRNG.
 */
export class Simulator implements NodeHost {
  readonly options: SimOptions;
  readonly stats: SimStats;
  readonly nodes = new Map<NodeId, SimNode>();
  /** Every member's disk, removed members' too (for the stats). */
  readonly #disks: MemoryDisk[] = [];
  readonly #random: SeededRandom;
  readonly #queue = new EventQueue<SimEvent>();
  readonly #epochs = new Map<NodeId, number>();
  readonly #parked = new Map<NodeId, SimEvent[]>();
  readonly #missedTicks = new Map<NodeId, number>();
  readonly #blocked = new Map<string, number>();
  readonly #clients: ClientState[] = [];
  readonly #plants: Plants;
  #now = 0;
  #nextNodeNumber: number;
  #partitionSequence = 0;
  #chaos = true;
  /** Membership the simulator is steering towards. */
  #planVoters: Set<NodeId>;
  #lastLeader: NodeId | undefined;

  readonly electionSafety = new ElectionSafety();
  readonly logMatching = new LogMatching();
  readonly stateMachineSafety = new StateMachineSafety();
  readonly linearizability = new LinearizableReads();
  readonly leaseSafety = new LeaseSafety();
  /** The lease client: the lease it holds (granted and kept alive), the grant in flight. */
  readonly #leaseClient: { lease?: bigint; grant?: { requestId: string; id: bigint; sentAtMs: number; via: NodeId }; grants: number } = { grants: 0 };

  /** Receives a line per notable event when set (`keel sim --trace`). */
  trace: ((line: string) => void) | undefined;

  constructor(options: SimOptions, plants: Plants = {}) {
    this.options = options;
    this.#plants = plants;
    this.#random = new SeededRandom(options.seed);
    this.stats = {
      steps: 0,
      simulatedMs: 0,
      leaderElections: 0,
      maxTerm: 0,
      writesAcknowledged: 0,
      writesRefused: 0,
      readsChecked: 0,
      leaseRenewals: 0,
      leaseRevokes: 0,
      messagesDelivered: 0,
      messagesDropped: 0,
      crashes: 0,
      pauses: 0,
      partitions: 0,
      snapshotsSent: 0,
      restoreSlices: 0,
      applySteps: 0,
      entriesReadBack: 0,
      membershipChanges: 0,
      transfers: 0,
      livenessPhases: 0,
      recoveryTicksMax: 0,
    };
    const voters = Array.from({ length: options.nodes }, (_, i) => `n${i + 1}`);
    this.#nextNodeNumber = options.nodes + 1;
    this.#planVoters = new Set(voters);
    const founders = bootstrapLog(voters);
    for (const id of voters) this.#addNode(id, founders);
    for (let client = 0; client < options.clients; client++) {
      this.#clients.push({ operation: 0, busy: false });
      this.#schedule(this.#random.int(20 * MICROS_PER_MS), { kind: 'client', client });
    }
    if (options.leases) this.#schedule(this.#random.int(20 * MICROS_PER_MS), { kind: 'lease-client' });
    this.#schedule(CHAOS_INTERVAL_US, { kind: 'chaos' });
  }

  /** Runs chaos phases, each followed by a liveness phase, until `steps` events were processed. */
  run(): SimStats {
    while (this.stats.steps < this.options.steps) {
      this.#chaos = true;
      const chaosEnd = Math.min(this.stats.steps + this.options.chaosSteps, this.options.steps);
      while (this.stats.steps < chaosEnd) this.#step();
      this.#livenessPhase();
    }
    this.stats.simulatedMs = Math.floor(this.#now / MICROS_PER_MS);
    this.stats.writesAcknowledged = this.linearizability.writesAcknowledged;
    this.stats.readsChecked = this.linearizability.readsChecked;
    this.stats.leaseRenewals = this.leaseSafety.renewalsAcknowledged;
    this.stats.leaseRevokes = this.leaseSafety.revokesChecked;
    this.stats.entriesReadBack = this.#disks.reduce((total, disk) => total + disk.entriesReadBack, 0);
    return this.stats;
  }

  // ------------------------------------------------------------------ event loop

  #schedule(delayUs: number, event: SimEvent): void {
    this.#queue.push(this.#now + Math.max(0, Math.round(delayUs)), event);
  }

  #step(): void {
    const next = this.#queue.pop();
    if (!next) throw new Error('event queue ran dry');
    this.#now = next.time;
    this.stats.steps++;
    this.#dispatch(next.event);
  }

  #dispatch(event: SimEvent): void {
    switch (event.kind) {
      case 'tick':
        return this.#onTick(event.node, event.epoch);
      case 'deliver':
        return this.#deliver(event.message, event.senderEpoch);
      case 'client':
        return this.#clientOperation(event.client);
      case 'client-timeout':
        return this.#clientTimeout(event.client, event.operation);
      case 'lease-client':
        return this.#leaseClientStep();
      case 'chaos':
        this.#schedule(CHAOS_INTERVAL_US, { kind: 'chaos' });
        return this.#chaosRound();
      case 'heal-partition':
        return this.#healPartition(event.partition);
      case 'restart':
        return this.#restart(event.node);
      case 'resume':
        return this.#resume(event.node);
      case 'persist-done':
      case 'restore-slice':
      case 'apply-step':
        return this.#nodeWorkDone(event);
      case 'snapshot-status': {
        const node = this.nodes.get(event.from);
        if (node && this.#alive(node)) node.reportSnapshot(event.to, event.failed);
        return;
      }
    }
  }

  #alive(node: SimNode): boolean {
    return node.running && !node.paused && !node.decommissioned;
  }

  // ------------------------------------------------------------------ nodes

  /** Starts a member; founders begin with the bootstrap log, a joining member with an empty disk. */
  #addNode(id: NodeId, founders?: { entries: Entry[]; hardState: HardState }): SimNode {
    const disk = new MemoryDisk();
    this.#disks.push(disk);
    if (founders) {
      const storage = new MemoryRaftStorage(disk);
      storage.load();
      storage.save({ entries: founders.entries, hardState: founders.hardState }, true);
    }
    const node = new SimNode(id, disk, this.options, this.#random.fork(), this, this.#plants);
    this.nodes.set(id, node);
    node.start();
    this.#epochs.set(id, 0);
    this.#schedule(this.#random.int(this.options.tickMs * MICROS_PER_MS), { kind: 'tick', node: id, epoch: 0 });
    return node;
  }

  #onTick(id: NodeId, epoch: number): void {
    const node = this.nodes.get(id)!;
    if (epoch !== this.#epochs.get(id) || !node.running || node.decommissioned) return;
    // Clock rates differ a little between members (±2%).
    const jitter = this.#random.int(400) - 200;
    this.#schedule(this.options.tickMs * MICROS_PER_MS + jitter, { kind: 'tick', node: id, epoch });
    if (node.paused) {
      this.#missedTicks.set(id, (this.#missedTicks.get(id) ?? 0) + 1);
      return;
    }
    node.tick();
  }

  #log(text: string): void {
    if (this.trace) this.trace(`${(this.#now / MICROS_PER_MS).toFixed(3).padStart(10)}ms ${text}`);
  }

  #crash(node: SimNode): void {
    // Sometimes the kernel wrote back an unsynced batch before the power went.
    const keep = this.#random.int(2);
    this.#log(`crash ${node.id} keep-unsynced=${keep}`);
    node.crash(keep);
    this.#parked.delete(node.id);
    this.#missedTicks.delete(node.id);
    this.stats.crashes++;
  }

  #restart(id: NodeId): void {
    const node = this.nodes.get(id)!;
    if (node.running || node.decommissioned) return;
    const epoch = this.#epochs.get(id)! + 1;
    this.#epochs.set(id, epoch);
    node.start();
    this.#log(`restart ${id} ${JSON.stringify(node.raw.status().hardState)} last=${node.storage.lastIndex()} first=${node.storage.firstIndex()}`);
    this.#schedule(this.#random.int(this.options.tickMs * MICROS_PER_MS), { kind: 'tick', node: id, epoch });
  }

  /**
   * A paused process wakes up: its monotonic clock shows the time that
   * passed, so the missed ticks run first (a leader lease expires as it
   * should), then the messages that queued up.
   */
  #resume(id: NodeId): void {
    const node = this.nodes.get(id)!;
    if (!node.paused) return;
    node.paused = false;
    const missed = this.#missedTicks.get(id) ?? 0;
    this.#missedTicks.delete(id);
    // As the member's timer does after a stall of an election timeout or more: lease deadlines start afresh.
    if (missed >= this.options.electionTicks) node.stalled();
    for (let i = 0; i < missed && node.running; i++) node.tick();
    const parked = this.#parked.get(id) ?? [];
    this.#parked.delete(id);
    for (const event of parked) {
      if (!node.running || node.paused) break;
      this.#dispatch(event);
    }
  }

  persistLater(node: NodeId, complete: () => void): void {
    const delayUs = this.#random.float() * this.options.persistDelayMsMax * MICROS_PER_MS;
    this.#schedule(delayUs, { kind: 'persist-done', node, epoch: this.#epochs.get(node) ?? 0, complete });
  }

  restoreLater(node: NodeId, slice: () => void): void {
    const delayUs = this.#random.float() * RESTORE_SLICE_DELAY_US_MAX;
    this.#schedule(delayUs, { kind: 'restore-slice', node, epoch: this.#epochs.get(node) ?? 0, slice });
  }

  applyLater(node: NodeId, step: () => void): void {
    const delayUs = this.#random.float() * RESTORE_SLICE_DELAY_US_MAX;
    this.#schedule(delayUs, { kind: 'apply-step', node, epoch: this.#epochs.get(node) ?? 0, slice: step });
  }

  /**
   * A write completes, or a restore slice or apply step runs, unless its
   * node crashed since (the work died with it); a paused node does it on
   * resume.
   */
  #nodeWorkDone(event: Extract<SimEvent, { kind: 'persist-done' | 'restore-slice' | 'apply-step' }>): void {
    const node = this.nodes.get(event.node);
    if (!node || event.epoch !== this.#epochs.get(event.node) || !node.running || node.decommissioned) return;
    if (node.paused) {
      const parked = this.#parked.get(node.id) ?? [];
      parked.push(event); // one outstanding write and one restore slice per node: bounded
      this.#parked.set(node.id, parked);
      return;
    }
    if (event.kind === 'persist-done') {
      event.complete();
      return;
    }
    if (event.kind === 'apply-step') this.stats.applySteps++;
    else this.stats.restoreSlices++;
    event.slice();
  }

  // ------------------------------------------------------------------ network

  send(from: NodeId, message: Message): void {
    // As the real transport does: a member only sends messages in its own name.
    if (message.from !== from) throw new Error(`${from} sent a message from ${message.from}`);
    const lossy = this.#chaos;
    if (lossy && this.#random.chance(this.options.lossRate)) {
      this.#dropped(from, message);
      return;
    }
    const copies = lossy && this.#random.chance(this.options.duplicateRate) ? 2 : 1;
    for (let copy = 0; copy < copies; copy++) {
      let delayMs = this.options.delayMsMin + this.#random.float() * (this.options.delayMsMax - this.options.delayMsMin);
      if (lossy && this.#random.chance(0.02)) delayMs *= 5; // a straggler: reorders behind later messages
      this.#schedule(delayMs * MICROS_PER_MS, { kind: 'deliver', message, senderEpoch: this.#epochs.get(from) ?? 0 });
    }
  }

  #deliver(message: Message, senderEpoch: number): void {
    const to = this.nodes.get(message.to);
    // A crash is a power loss: what sat in the sender's socket buffers and NIC is gone too.
    const senderCrashed = senderEpoch !== this.#epochs.get(message.from) || this.nodes.get(message.from)?.running === false;
    if (senderCrashed && this.#random.chance(SENDER_CRASH_LOSS)) {
      this.#dropped(message.from, message);
      return;
    }
    if (!to || !to.running || to.decommissioned || this.#blocked.has(`${message.from}>${message.to}`)) {
      this.#dropped(message.from, message);
      return;
    }
    if (to.paused) {
      const parked = this.#parked.get(to.id) ?? [];
      if (parked.length < PARKED_EVENTS_MAX) parked.push({ kind: 'deliver', message, senderEpoch });
      this.#parked.set(to.id, parked);
      return;
    }
    this.stats.messagesDelivered++;
    to.receive(message);
    if (message.type === MessageType.Snapshot) {
      this.stats.snapshotsSent++;
      this.#schedule(MICROS_PER_MS, { kind: 'snapshot-status', from: message.from, to: message.to, failed: false });
    }
  }

  #dropped(from: NodeId, message: Message): void {
    this.stats.messagesDropped++;
    // The sending transport notices some failures, as a real one would.
    if (message.type === MessageType.Snapshot) {
      this.#schedule(MICROS_PER_MS, { kind: 'snapshot-status', from, to: message.to, failed: true });
    } else if (message.type === MessageType.Append && this.#random.chance(0.2)) {
      const sender = this.nodes.get(from);
      if (sender && this.#alive(sender)) sender.reportUnreachable(message.to);
    }
  }

  // ------------------------------------------------------------------ host callbacks

  persisted(node: NodeId, entry: Entry, previousTerm: number): void {
    this.#log(`persist ${node} ${entry.index}@${entry.term} type=${entry.type}`);
    this.logMatching.observePersisted(node, entry, previousTerm);
  }

  applied(node: NodeId, entry: Entry): void {
    this.#log(`apply ${node} ${entry.index}@${entry.term}`);
    this.stateMachineSafety.observeApplied(node, entry);
  }

  commandOutcome(node: NodeId, entry: Entry, taken: boolean): void {
    const first = this.stateMachineSafety.observeOutcome(node, entry.index, taken);
    if (!first || !taken) return;
    const revoke = decodeLeaseRevoke(entry.data);
    if (revoke) {
      this.#log(`lease revoke ${revoke.id} applied first on ${node} at ${entry.index}`);
      this.leaseSafety.revoked(revoke.id, this.nowMs(), `${revoke.requestId}, index ${entry.index}, first applied on ${node}`);
      if (this.#leaseClient.lease === revoke.id) this.#leaseClient.lease = undefined;
      return;
    }
    const command = decodeWrite(entry.data);
    if (command) this.linearizability.writeCommitted(command.requestId, command.key, command.value, entry.index);
  }

  writeRefused(requestId: string): void {
    if (this.#leaseClient.grant?.requestId === requestId) this.#leaseClient.grant = undefined;
    const client = this.#clients.find((c) => c.busy && c.kind === 'write' && c.requestId === requestId);
    if (!client) return;
    this.linearizability.writeRefused(requestId);
    this.stats.writesRefused++;
    this.#clientIdle(client);
  }

  becameLeader(node: SimNode, term: number): void {
    this.#log(`leader ${node.id} term=${term} conf=${JSON.stringify(node.confState())} last=${node.storage.lastIndex()}`);
    this.electionSafety.observeLeader(term, node.id);
    this.stats.leaderElections++;
    this.stats.maxTerm = Math.max(this.stats.maxTerm, term);
    this.#lastLeader = node.id;
    const storage = node.storage;
    checkLeaderCompleteness(
      node.id,
      term,
      storage.firstIndex(),
      (index) => {
        try {
          return storage.term(index);
        } catch {
          return undefined;
        }
      },
      this.stateMachineSafety,
    );
  }

  nowMs(): number {
    return this.#now / MICROS_PER_MS;
  }

  writeDone(requestId: string, index: number): void {
    const grant = this.#leaseClient.grant;
    if (grant?.requestId === requestId) {
      this.#leaseClient.grant = undefined;
      this.#leaseClient.lease = grant.id;
      this.leaseSafety.held(grant.id, grant.sentAtMs, this.options.leaseTtlSeconds, `granted through ${grant.via}`);
      return;
    }
    const client = this.#clients.find((c) => c.busy && c.kind === 'write' && c.requestId === requestId);
    if (!client) return;
    this.linearizability.writeAcknowledged(index);
    this.#clientIdle(client);
  }

  readDone(readId: string, observed: number, value: string | undefined): void {
    const client = this.#clients.find((c) => c.busy && c.kind === 'read' && c.requestId === readId);
    if (!client) return;
    this.linearizability.readCompleted(readId, client.key!, client.floor!, observed, value);
    this.#clientIdle(client);
  }

  confChangeApplied(_node: NodeId, change: ConfChange): void {
    if (change.type !== ConfChangeType.Remove) return;
    const removed = this.nodes.get(change.nodeId);
    if (removed && !removed.decommissioned) {
      // Committed removal: the operator shuts the member down for good.
      removed.decommissioned = true;
      removed.crash();
      this.stats.membershipChanges++;
    }
  }

  // ------------------------------------------------------------------ clients

  #clientIdle(client: ClientState): void {
    client.busy = false;
    const index = this.#clients.indexOf(client);
    this.#schedule(1 * MICROS_PER_MS + this.#random.int(20 * MICROS_PER_MS), { kind: 'client', client: index });
  }

  #clientOperation(index: number): void {
    const client = this.#clients[index]!;
    if (client.busy) return;
    const target = this.#pickTarget();
    if (!target) {
      this.#clientIdle(client);
      return;
    }
    client.operation++;
    client.busy = true;
    client.target = target.id;
    client.key = `k${this.#random.int(this.options.keys)}`;
    client.requestId = `c${index}.${client.operation}`;
    this.#schedule(CLIENT_TIMEOUT_US, { kind: 'client-timeout', client: index, operation: client.operation });
    // Not with a space quota: sweep keys would hold the space the clients' compactions free, and the probe of a liveness phase would be refused.
    if (this.options.deleteStepKeys > 0 && this.options.quotaBytes === 0 && this.#random.chance(SWEEP_CHANCE)) {
      // A sweep: fill the sweep prefix (a txn of puts) or clear it (a DeleteRange members apply in steps).
      target.sweep(this.#random.chance(0.25) ? 'clear' : 'fill');
      this.#clientIdle(client);
      return;
    }
    if (this.options.quotaBytes > 0 && this.#random.chance(0.04)) {
      // With a small quota, clients free space now and then, as an operator compacts after NOSPACE.
      target.compact();
      this.#clientIdle(client);
      return;
    }
    if (this.#random.chance(this.options.readRatio)) {
      client.kind = 'read';
      client.floor = this.linearizability.readStarted();
      target.read(client.requestId, client.key);
    } else {
      client.kind = 'write';
      this.linearizability.writeStarted(client.requestId);
      const refused = target.write({ requestId: client.requestId, key: client.key, value: client.requestId });
      if (refused) this.#clientIdle(client);
    }
  }

  /**
   * The lease client, as etcd's clients keep a session: grant a lease,
   * then send a keep-alive to the leader a few times per TTL; a TTL of 0
   * back means the lease is gone, and a new one is granted.
   */
  #leaseClientStep(): void {
    const ttlMs = this.options.leaseTtlSeconds * 1000;
    // Keep-alives from a tenth of the TTL apart to most of it: late ones leave the lessor little slack. Now and
    // then the client stalls (a GC pause, a stopped process) past the TTL and comes back with a keep-alive for
    // a lease the leader may be revoking: that keep-alive must not be promised a lease the revoke then ends.
    const stalled = this.#random.chance(LEASE_CLIENT_STALL_CHANCE);
    const nextMs = stalled ? ttlMs + this.#random.int(ttlMs / 2) : ttlMs / 10 + this.#random.int((ttlMs * 7) / 10);
    this.#schedule(nextMs * MICROS_PER_MS, { kind: 'lease-client' });
    const client = this.#leaseClient;
    const now = this.nowMs();
    // Now and then the client goes away without a word (a crashed process): its lease must expire and be revoked.
    if (client.lease !== undefined && this.#random.chance(this.options.leaseAbandonRate)) client.lease = undefined;
    if (client.grant && now - client.grant.sentAtMs > CLIENT_TIMEOUT_US / MICROS_PER_MS) client.grant = undefined; // may have applied: it expires unheld
    if (client.grant) return;
    if (client.lease === undefined) {
      const target = this.#pickTarget();
      if (!target) return;
      const id = BigInt(++client.grants);
      const requestId = `lease.grant.${id}`;
      if (target.grantLease(requestId, id, this.options.leaseTtlSeconds) === undefined) client.grant = { requestId, id, sentAtMs: now, via: target.id };
      return;
    }
    // Any member that believes it leads may be asked (a deposed one on the client's side of a partition too).
    const leaders = [...this.nodes.values()].filter((node) => this.#alive(node) && node.isLeader());
    const leader = leaders.length > 0 ? this.#random.pick(leaders) : undefined;
    if (!leader) return;
    const lease = client.lease;
    leader.renewLease(lease, (ttl) => {
      // Held from when the client sent it: the client cannot know how long the answer took.
      if (ttl > 0) this.leaseSafety.held(lease, now, ttl, `keep-alive answered by ${leader.id}`);
      else if (client.lease === lease) client.lease = undefined;
    });
  }

  #clientTimeout(index: number, operation: number): void {
    const client = this.#clients[index]!;
    // An unanswered operation is indeterminate; the history checks only answered ones.
    if (client.busy && client.operation === operation) this.#clientIdle(client);
  }

  #pickTarget(): SimNode | undefined {
    const leader = this.#lastLeader ? this.nodes.get(this.#lastLeader) : undefined;
    if (leader && this.#alive(leader) && this.#random.chance(0.7)) return leader;
    const candidates = [...this.nodes.values()].filter((node) => this.#alive(node));
    return candidates.length > 0 ? this.#random.pick(candidates) : undefined;
  }

  // ------------------------------------------------------------------ faults

  #chaosRound(): void {
    const rate = (perMs: number): boolean => this.#chaos && this.#random.chance(perMs * (CHAOS_INTERVAL_US / MICROS_PER_MS));
    if (rate(this.options.partitionRate)) this.#partition();
    if (rate(this.options.crashRate)) this.#crashSomeone();
    if (rate(this.options.pauseRate)) this.#pauseSomeone();
    if (rate(this.options.transferRate)) this.#transferSomewhere();
    if (rate(this.options.membershipRate)) this.#planReplacement();
    this.#steerMembership();
  }

  #members(): SimNode[] {
    return [...this.nodes.values()].filter((node) => !node.decommissioned);
  }

  #partition(): void {
    const members = this.#members().map((node) => node.id);
    if (members.length < 2) return;
    const shuffled = members.map((id) => ({ id, key: this.#random.float() }));
    shuffled.sort((a, b) => a.key - b.key);
    const order = shuffled.map((entry) => entry.id);
    const leader = this.#members().find((node) => node.isLeader());
    const shape = this.#random.int(5);
    let sideA: NodeId[];
    let oneWay = false;
    switch (shape) {
      case 0: // isolate one member
        sideA = [order[0]!];
        break;
      case 1: {
        // the leader and one follower against the rest (the classic split brain)
        const follower = order.find((id) => id !== leader?.id)!;
        sideA = leader ? [leader.id, follower] : order.slice(0, 2);
        break;
      }
      case 2: // one-way: a member can send but not receive
        sideA = [order[0]!];
        oneWay = true;
        break;
      case 3: {
        // a bridge: two sides that cannot talk to each other, one member reaching both
        const half = Math.max(1, Math.floor((order.length - 1) / 2));
        const left = order.slice(1, 1 + half);
        const right = order.slice(1 + half);
        const partition = ++this.#partitionSequence;
        for (const a of left) for (const b of right) this.#block(a, b, partition, false);
        this.#schedulePartitionHeal(partition);
        return;
      }
      default: // a random split
        sideA = order.slice(0, 1 + this.#random.int(order.length - 1));
        break;
    }
    const partition = ++this.#partitionSequence;
    const sideB = members.filter((id) => !sideA.includes(id));
    this.#log(`partition ${partition} ${sideA.join(',')} | ${sideB.join(',')}${oneWay ? ' (one-way)' : ''}`);
    for (const a of sideA) for (const b of sideB) this.#block(a, b, partition, oneWay);
    this.#schedulePartitionHeal(partition);
  }

  #block(a: NodeId, b: NodeId, partition: number, oneWay: boolean): void {
    this.#blocked.set(`${b}>${a}`, partition);
    if (!oneWay) this.#blocked.set(`${a}>${b}`, partition);
  }

  #schedulePartitionHeal(partition: number): void {
    this.stats.partitions++;
    this.#schedule((100 + this.#random.int(2000)) * MICROS_PER_MS, { kind: 'heal-partition', partition });
  }

  #healPartition(partition: number): void {
    this.#log(`heal ${partition}`);
    for (const [link, owner] of [...this.#blocked]) if (owner === partition) this.#blocked.delete(link);
  }

  #crashSomeone(): void {
    const running = this.#members().filter((node) => node.running);
    if (running.length === 0) return;
    const victim = this.#random.pick(running);
    this.#crash(victim);
    this.#schedule((50 + this.#random.int(2000)) * MICROS_PER_MS, { kind: 'restart', node: victim.id });
  }

  #pauseSomeone(): void {
    const running = this.#members().filter((node) => this.#alive(node));
    if (running.length === 0) return;
    const victim = this.#random.pick(running);
    victim.paused = true;
    this.#log(`pause ${victim.id}`);
    this.stats.pauses++;
    this.#schedule((50 + this.#random.int(1000)) * MICROS_PER_MS, { kind: 'resume', node: victim.id });
  }

  #transferSomewhere(): void {
    const leader = this.#members().find((node) => this.#alive(node) && node.isLeader());
    if (!leader) return;
    const voters = leader.confState().voters.filter((id) => id !== leader.id);
    if (voters.length === 0) return;
    leader.transferLeader(this.#random.pick(voters));
    this.stats.transfers++;
  }

  /** Replace a voter: add a fresh member as learner, promote it, then remove the old one. */
  #planReplacement(): void {
    const leader = this.#members().find((node) => this.#alive(node) && node.isLeader());
    if (!leader || !sameSet(new Set(leader.confState().voters), this.#planVoters)) return;
    if (leader.confState().learners.length > 0) return;
    const outgoing = this.#random.pick([...this.#planVoters]);
    const incoming = `n${this.#nextNodeNumber++}`;
    this.#planVoters = new Set([...this.#planVoters].filter((id) => id !== outgoing));
    this.#planVoters.add(incoming);
    // A new member starts empty and learns the membership from the leader.
    this.#addNode(incoming);
  }

  /** One step towards the planned membership, through whoever leads now. */
  #steerMembership(): void {
    const leader = this.#members().find((node) => this.#alive(node) && node.isLeader());
    if (!leader) return;
    const conf = leader.confState();
    for (const id of this.#planVoters) {
      if (conf.voters.includes(id)) continue;
      const change = conf.learners.includes(id)
        ? { type: ConfChangeType.AddVoter, nodeId: id }
        : { type: ConfChangeType.AddLearner, nodeId: id };
      if (leader.proposeConfChange(change)) {
        this.stats.membershipChanges++;
        this.#log(`conf-change ${leader.id} ${JSON.stringify(change)}`);
      }
      return;
    }
    for (const id of conf.voters) {
      if (this.#planVoters.has(id)) continue;
      if (leader.proposeConfChange({ type: ConfChangeType.Remove, nodeId: id })) this.#log(`conf-change ${leader.id} remove ${id}`);
      return;
    }
  }

  // ------------------------------------------------------------------ liveness

  /**
   * Faults heal (partitions, crashes, pauses, loss), then the cluster must
   * elect a leader and commit a new write on every running voter within
   * `livenessTicks` election-timeout-sized ticks.
   */
  #livenessPhase(): void {
    this.#chaos = false;
    this.stats.livenessPhases++;
    this.#blocked.clear();
    for (const node of this.#members()) {
      if (!node.running) this.#restart(node.id);
      else if (node.paused) this.#resume(node.id);
    }
    const start = this.#now;
    const deadline = start + this.options.livenessTicks * this.options.tickMs * MICROS_PER_MS;
    let probeId: string | undefined;
    let probeAt = Number.NEGATIVE_INFINITY;
    let nextCheckAt = start;
    for (let probe = 0; ; ) {
      if (this.#now >= nextCheckAt) {
        nextCheckAt = this.#now + LIVENESS_PROBE_INTERVAL_US;
        if (probeId && this.#probeApplied(probeId)) {
          const ticks = Math.ceil((this.#now - start) / (this.options.tickMs * MICROS_PER_MS));
          this.stats.recoveryTicksMax = Math.max(this.stats.recoveryTicksMax, ticks);
          return;
        }
        const leader = this.#members().find((node) => this.#alive(node) && node.isLeader());
        // A probe lost with a leader change is replaced by a new one.
        if (leader && this.#now - probeAt > PROBE_RETRY_US) {
          probeId = `probe${this.stats.livenessPhases}.${probe++}`;
          probeAt = this.#now;
          if (this.options.quotaBytes > 0) leader.compact(); // room for the probe, ahead of it in the log
          leader.write({ requestId: probeId, key: PROBE_KEY, value: probeId });
        }
      }
      if (this.#now > deadline) {
        const leaders = this.#members().filter((node) => node.isLeader()).map((node) => node.id);
        throw new LivenessFailure(
          `no write committed on every voter within ${this.options.livenessTicks} ticks after faults healed (leaders: ${leaders.join(',') || 'none'})`,
        );
      }
      this.#step();
    }
  }

  /** True once every voter of the current leader's membership has applied the probe. */
  #probeApplied(probeId: string): boolean {
    const leader = this.#members().find((node) => this.#alive(node) && node.isLeader());
    if (!leader) return false;
    return leader.confState().voters.every((id) => {
      const node = this.nodes.get(id);
      return node !== undefined && node.running && readRegister(node.store, PROBE_KEY) === probeId;
    });
  }
}

function sameSet(a: ReadonlySet<NodeId>, b: ReadonlySet<NodeId>): boolean {
  return a.size === b.size && [...a].every((id) => b.has(id));
}
