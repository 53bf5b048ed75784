/**
 * bench/raft-core: proposals committed per second by a 3-node cluster driven
 * by the consensus core alone: no disk, no network, no clock. Messages move
 * between in-memory RawNodes as soon as a Ready hands them out.
 *
 *   npm run bench:raft [-- --seconds 3 --payload 100 --window 64]
 *
 * Rows: batching on (every proposal since the last Ready travels in one
 * append per follower) and off (one append message, and one Ready, per
 * proposal), at the same offered load. There is no external anchor for a
 * core without I/O in Node; the "off" row is the baseline, and the ratio
 * column is on/off.
 */
import { bootstrapLog } from '../src/raft/bootstrap.js';
import { SeededRandom } from '../src/raft/random.js';
import { RawNode } from '../src/raft/raw-node.js';
import { MemoryStorage } from '../src/raft/storage.js';
import type { Message } from '../src/raft/types.js';

interface Options {
  seconds: number;
  payloadBytes: number;
  window: number;
}

function parseArgs(argv: string[]): Options {
  const options: Options = { seconds: 3, payloadBytes: 100, window: 64 };
  for (let i = 0; i < argv.length; i += 2) {
    const value = Number(argv[i + 1]);
    if (argv[i] === '--seconds') options.seconds = value;
    else if (argv[i] === '--payload') options.payloadBytes = value;
    else if (argv[i] === '--window') options.window = value;
  }
  return options;
}

class Cluster {
  readonly nodes = new Map<string, { raw: RawNode; storage: MemoryStorage }>();
  readonly queue: Message[] = [];
  committed = 0;
  messages = 0;
  readies = 0;

  constructor(batchAppends: boolean) {
    const ids = ['n1', 'n2', 'n3'];
    const { entries, hardState } = bootstrapLog(ids);
    ids.forEach((id, i) => {
      const storage = new MemoryStorage();
      storage.append(entries);
      storage.setHardState(hardState);
      const raw = new RawNode({ id, storage, random: new SeededRandom(i + 1), batchAppends, maxInflightMessages: 4096 });
      this.nodes.set(id, { raw, storage });
    });
    this.nodes.get('n1')!.raw.campaign();
    this.settle();
  }

  handle(id: string): void {
    const node = this.nodes.get(id)!;
    if (!node.raw.hasReady()) return;
    const ready = node.raw.ready();
    this.readies++;
    node.storage.append(ready.entries);
    if (ready.hardState) node.storage.setHardState(ready.hardState);
    for (const message of ready.messages) this.queue.push(message);
    if (id === 'n1') this.committed += ready.committedEntries.length;
    node.raw.advance(ready);
    // Keep memory flat over a long run: compact what every member has applied.
    const applied = node.raw.status().applied;
    if (applied - node.storage.firstIndex() > 20_000) {
      node.storage.createSnapshot(applied - 10_000, node.raw.confStateAt(applied - 10_000), new Uint8Array());
      node.storage.compact(applied - 10_000);
    }
  }

  settle(): void {
    for (let round = 0; round < 1_000; round++) {
      for (const id of this.nodes.keys()) this.handle(id);
      if (this.queue.length === 0) return;
      const batch = this.queue.splice(0);
      this.messages += batch.length;
      for (const message of batch) this.nodes.get(message.to)!.raw.step(message);
    }
    throw new Error('did not settle');
  }
}

function run(batching: boolean, options: Options): { perSecond: number; messagesPerProposal: number; readiesPerProposal: number } {
  const cluster = new Cluster(batching);
  const leader = cluster.nodes.get('n1')!.raw;
  const payload = new Uint8Array(options.payloadBytes).fill(7);
  const startCommitted = cluster.committed;
  const startMessages = cluster.messages;
  const startReadies = cluster.readies;
  const deadline = performance.now() + options.seconds * 1000;
  const started = performance.now();
  let proposed = 0;
  const proposalsMax = 50_000_000; // a bound on the loop besides the clock
  while (performance.now() < deadline && proposed < proposalsMax) {
    for (let i = 0; i < options.window; i++) {
      leader.propose(payload);
      proposed++;
      // Without batching, every proposal goes out in its own Ready.
      if (!batching) cluster.handle('n1');
    }
    cluster.settle();
  }
  const elapsed = (performance.now() - started) / 1000;
  const committed = cluster.committed - startCommitted;
  return {
    perSecond: committed / elapsed,
    messagesPerProposal: (cluster.messages - startMessages) / committed,
    readiesPerProposal: (cluster.readies - startReadies) / committed,
  };
}

const options = parseArgs(process.argv.slice(2));
const on = run(true, options);
const off = run(false, options);
const format = (n: number): string => Math.round(n).toLocaleString('en-US');
console.log(`3-node cluster, core only (no I/O), ${options.payloadBytes}-byte proposals, ${options.window} proposals per round, ${options.seconds} s per row, node ${process.version}\n`);
console.log('| batching | proposals committed/s | messages per proposal | Readies per proposal | ratio on/off |');
console.log('|---|---:|---:|---:|---:|');
console.log(`| on | ${format(on.perSecond)} | ${on.messagesPerProposal.toFixed(3)} | ${on.readiesPerProposal.toFixed(3)} | ${(on.perSecond / off.perSecond).toFixed(2)}x |`);
console.log(`| off | ${format(off.perSecond)} | ${off.messagesPerProposal.toFixed(3)} | ${off.readiesPerProposal.toFixed(3)} | 1.00x |`);
