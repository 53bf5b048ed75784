import type { ConfState, Entry, HardState, Snapshot } from '../src/raft/types.js';
import { EMPTY_HARD_STATE } from '../src/raft/types.js';

/**
 * A node's simulated disk. Entries and snapshots are always written with an
 * fsync (the Ready says mustSync whenever it carries them), so they are
 * durable at once; a hard state written without an fsync (only the commit
 * index moved) is lost in a crash, as on a real disk.
 */
export class SimDisk {
  #durableHardState: HardState = EMPTY_HARD_STATE;
  #volatileHardState: HardState = EMPTY_HARD_STATE;
  #snapshot: Snapshot;
  #entries: Entry[] = [];
  fsyncs = 0;

  constructor(initialConf: ConfState) {
    this.#snapshot = { metadata: { index: 0, term: 0, confState: initialConf }, data: new Uint8Array(0) };
  }

  saveSnapshot(snapshot: Snapshot): void {
    if (snapshot.metadata.index <= this.#snapshot.metadata.index) return;
    this.#snapshot = snapshot;
    this.#entries = this.#entries.filter((entry) => entry.index > snapshot.metadata.index);
    // Saving a snapshot syncs the whole disk, including any unsynced hard state.
    this.sync();
  }

  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const first = entries[0]!.index;
    let keep = this.#entries.length;
    while (keep > 0 && this.#entries[keep - 1]!.index >= first) keep--;
    this.#entries.length = keep;
    for (const entry of entries) if (entry.index > this.#snapshot.metadata.index) this.#entries.push(entry);
  }

  setHardState(hardState: HardState): void {
    this.#volatileHardState = hardState;
  }

  sync(): void {
    this.#durableHardState = this.#volatileHardState;
    this.fsyncs++;
  }

  /** What survives a crash. */
  load(): { hardState: HardState; snapshot: Snapshot; entries: readonly Entry[] } {
    this.#volatileHardState = this.#durableHardState;
    return { hardState: this.#durableHardState, snapshot: this.#snapshot, entries: this.#entries };
  }
}
