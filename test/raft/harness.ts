import { bootstrapLog } from '../../src/raft/bootstrap.js';
import type { RaftConfig } from '../../src/raft/config.js';
import { RaftError } from '../../src/raft/errors.js';
import { SeededRandom } from '../../src/raft/random.js';
import { RawNode } from '../../src/raft/raw-node.js';
import { MemoryStorage } from '../../src/raft/storage.js';
import type { Entry, HardState, Message, NodeId, ReadState, Snapshot } from '../../src/raft/types.js';
import { ConfChangeType, EntryType, MessageType } from '../../src/raft/types.js';
import { inMemoryData } from '../../src/storage/snapshot-files.js';

/**
 * A synchronous in-memory cluster for scripted protocol tests: messages are
 * delivered in FIFO order with no delay until the cluster is quiet, so a
 * script reads as a sequence of protocol steps. Links can be cut one way or
 * both. Nothing here is random except election timeouts, from a fixed seed.
 */
export interface HarnessNode {
  raw: RawNode;
  storage: MemoryStorage;
  /** The "disk": what survives a crash. */
  disk: { hardState: HardState; snapshot: Snapshot | undefined; entries: Entry[] };
  applied: Entry[];
  readStates: ReadState[];
  running: boolean;
  lastSnapshotData: string;
}

export type HarnessOptions = Partial<Omit<RaftConfig, 'id' | 'storage' | 'random'>>;

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const STABILIZE_ROUNDS_MAX = 10_000;

export class Harness {
  readonly nodes = new Map<NodeId, HarnessNode>();
  readonly #blocked = new Set<string>();
  readonly #options: HarnessOptions;
  readonly #random: SeededRandom;
  #queue: Message[] = [];
  /** Snapshot delivery reports, given to the sender after the delivery round (as a transport would). */
  #snapshotReports: { from: NodeId; to: NodeId; failed: boolean }[] = [];
  /** Messages of these types are dropped (e.g. to stall heartbeats in a script). */
  readonly dropTypes = new Set<MessageType>();

  constructor(voters: readonly NodeId[], options: HarnessOptions = {}, seed = 1) {
    this.#options = options;
    this.#random = new SeededRandom(seed);
    const founders = bootstrapLog(voters);
    for (const id of voters) this.#create(id, founders);
  }

  #create(id: NodeId, founders?: { entries: Entry[]; hardState: HardState }): HarnessNode {
    const node: HarnessNode = {
      raw: undefined as unknown as RawNode,
      storage: new MemoryStorage(),
      disk: { hardState: founders?.hardState ?? { term: 0, vote: '', commit: 0 }, snapshot: undefined, entries: [...(founders?.entries ?? [])] },
      applied: [],
      readStates: [],
      running: false,
      lastSnapshotData: '',
    };
    this.nodes.set(id, node);
    this.#boot(id, node);
    return node;
  }

  #boot(id: NodeId, node: HarnessNode): void {
    const storage = new MemoryStorage();
    if (node.disk.snapshot) storage.applySnapshot(node.disk.snapshot);
    storage.append(node.disk.entries);
    storage.setHardState(node.disk.hardState);
    node.storage = storage;
    node.applied = [];
    node.readStates = [];
    node.raw = new RawNode({
      id,
      storage,
      random: this.#random.fork(),
      electionTicks: 10,
      heartbeatTicks: 1,
      applied: node.disk.snapshot?.metadata.index ?? 0,
      ...this.#options,
    });
    node.running = true;
  }

  node(id: NodeId): HarnessNode {
    const node = this.nodes.get(id);
    if (!node) throw new Error(`no node ${id}`);
    return node;
  }

  /** Adds a member with an empty disk (it learns everything from the leader). */
  addEmptyNode(id: NodeId): void {
    this.#create(id);
  }

  crash(id: NodeId): void {
    this.node(id).running = false;
    this.#queue = this.#queue.filter((m) => m.to !== id && m.from !== id);
  }

  restart(id: NodeId): void {
    const node = this.node(id);
    if (!node.running) this.#boot(id, node);
  }

  /** Cuts every link between the two sides, both ways. */
  partition(sideA: readonly NodeId[], sideB: readonly NodeId[]): void {
    for (const a of sideA) {
      for (const b of sideB) {
        this.#blocked.add(`${a}>${b}`);
        this.#blocked.add(`${b}>${a}`);
      }
    }
  }

  isolate(id: NodeId): void {
    this.partition([id], [...this.nodes.keys()].filter((other) => other !== id));
  }

  heal(): void {
    this.#blocked.clear();
  }

  tick(id: NodeId, times = 1): void {
    const node = this.node(id);
    for (let i = 0; i < times; i++) if (node.running) node.raw.tick();
  }

  /** `rounds` times: every running member ticks once, then the network settles. */
  tickAll(rounds: number): void {
    for (let round = 0; round < rounds; round++) {
      for (const [id, node] of this.#sorted()) if (node.running) this.tick(id);
      this.stabilize();
    }
  }

  /** Handles every Ready and delivers every message until nothing moves. */
  stabilize(): void {
    for (let round = 0; round < STABILIZE_ROUNDS_MAX; round++) {
      let moved = false;
      for (const [id, node] of this.#sorted()) {
        if (node.running && node.raw.hasReady()) {
          this.#handleReady(id, node);
          moved = true;
        }
      }
      const batch = this.#queue;
      this.#queue = [];
      for (const message of batch) {
        moved = true;
        const to = this.nodes.get(message.to);
        if (!to?.running || this.#blocked.has(`${message.from}>${message.to}`) || this.dropTypes.has(message.type)) continue;
        to.raw.step(message);
      }
      const reports = this.#snapshotReports;
      this.#snapshotReports = [];
      for (const report of reports) {
        moved = true;
        const sender = this.nodes.get(report.from);
        if (sender?.running) sender.raw.reportSnapshot(report.to, report.failed);
      }
      if (!moved) return;
    }
    throw new Error('cluster did not settle');
  }

  #handleReady(id: NodeId, node: HarnessNode): void {
    const ready = node.raw.ready();
    if (ready.snapshot) {
      node.storage.applySnapshot(ready.snapshot);
      node.disk.snapshot = ready.snapshot;
      node.disk.entries = [];
    }
    if (ready.entries.length > 0) {
      node.storage.append(ready.entries);
      const first = ready.entries[0]!.index;
      node.disk.entries = node.disk.entries.filter((entry) => entry.index < first).concat(ready.entries);
    }
    if (ready.hardState) {
      node.storage.setHardState(ready.hardState);
      node.disk.hardState = ready.hardState;
    }
    for (const message of ready.messages) {
      this.#queue.push(message);
      if (message.type === MessageType.Snapshot) {
        // The transport reports delivery; here delivery always succeeds unless the link is cut.
        this.#snapshotReports.push({ from: id, to: message.to, failed: this.#blocked.has(`${message.from}>${message.to}`) });
      }
    }
    if (ready.snapshot) node.lastSnapshotData = decoder.decode(inMemoryData(ready.snapshot.data));
    node.applied.push(...ready.committedEntries);
    node.readStates.push(...ready.readStates);
    node.raw.advance(ready);
  }

  #sorted(): [NodeId, HarnessNode][] {
    return [...this.nodes.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  }

  /** Proposes `text` at `id`; returns "index=I term=T", "forwarded to X" or the error code. */
  propose(id: NodeId, text: string): string {
    try {
      const result = this.node(id).raw.propose(encoder.encode(text));
      return result.forwardedTo ? `forwarded to ${result.forwardedTo}` : `index=${result.index} term=${result.term}`;
    } catch (error) {
      if (RaftError.is(error)) return `error ${error.code}: ${error.message}`;
      throw error;
    }
  }

  confChange(id: NodeId, type: 'add-learner' | 'add-voter' | 'remove', target: NodeId): string {
    const changeType =
      type === 'add-learner' ? ConfChangeType.AddLearner : type === 'add-voter' ? ConfChangeType.AddVoter : ConfChangeType.Remove;
    try {
      const result = this.node(id).raw.proposeConfChange({ type: changeType, nodeId: target });
      return `index=${result.index} term=${result.term}`;
    } catch (error) {
      if (RaftError.is(error)) return `error ${error.code}: ${error.message}`;
      throw error;
    }
  }

  /** Snapshots `id`'s applied state and compacts its log up to `index`. */
  compact(id: NodeId, index: number): void {
    const node = this.node(id);
    const applied = node.raw.status().applied;
    const data = encoder.encode(`state@${applied}:${this.values(id).filter((v) => !v.startsWith('[')).join(',')}`);
    const snapshot = node.storage.createSnapshot(applied, node.raw.confStateAt(applied), data);
    node.disk.snapshot = snapshot;
    node.storage.compact(Math.min(index, applied));
    node.disk.entries = node.disk.entries.filter((entry) => entry.index > Math.min(index, applied));
  }

  /** Application payloads applied at `id`, in order (no-ops and membership entries left out). */
  values(id: NodeId): string[] {
    const node = this.node(id);
    const fromEntries = node.applied
      .filter((entry) => entry.type === EntryType.Normal && entry.data.length > 0)
      .map((entry) => decoder.decode(entry.data));
    return node.lastSnapshotData ? [`[snapshot ${node.lastSnapshotData}]`, ...fromEntries] : fromEntries;
  }

  /** One line per member: role, term, leader, commit, applied, log range, membership. */
  status(): string {
    const lines: string[] = [];
    for (const [id, node] of this.#sorted()) {
      if (!node.running) {
        lines.push(`${id}: down`);
        continue;
      }
      const s = node.raw.status();
      const conf = s.confState;
      lines.push(
        `${id}: ${s.softState.role} term=${s.hardState.term} lead=${s.softState.leader || '-'} commit=${s.hardState.commit} ` +
          `applied=${s.applied} log=${node.storage.firstIndex()}..${s.lastIndex} voters=${conf.voters.join(',')}` +
          (conf.learners.length > 0 ? ` learners=${conf.learners.join(',')}` : ''),
      );
    }
    return lines.join('\n');
  }

  /** `id`'s log as index@term[:payload], from its first retained index. */
  log(id: NodeId): string {
    const node = this.node(id);
    const first = node.storage.firstIndex();
    const last = node.raw.status().lastIndex;
    if (last < first) return '(empty)';
    const entries = node.storage.entries(first, Math.min(last, node.storage.lastIndex()) + 1, Number.POSITIVE_INFINITY);
    return entries
      .map((entry) => {
        const payload = entry.type === EntryType.ConfChange ? 'conf' : decoder.decode(entry.data) || 'no-op';
        return `${entry.index}@${entry.term}:${payload}`;
      })
      .join(' ');
  }
}
