import { applyConfChange, decodeConfChange } from './conf-change.js';
import type { ConfState, Entry } from './types.js';
import { EntryType } from './types.js';

/**
 * Membership as it stands in the log. A node uses the latest configuration in
 * its log, committed or not (Raft thesis §4.1; hashicorp/raft does the same):
 * applying changes only once committed lets a node with a stale commit index
 * count votes under a configuration two changes old, where old and new
 * majorities need not intersect. The price is that a truncated suffix can
 * take a configuration back, which {@link ConfigLog.append} handles.
 */
export class ConfigLog {
  #baseIndex: number;
  #base: ConfState;
  /** Configurations introduced by ConfChange entries after #baseIndex, in index order. */
  #changes: { index: number; conf: ConfState }[] = [];
  #version = 0;

  constructor(baseIndex: number, base: ConfState) {
    this.#baseIndex = baseIndex;
    this.#base = base;
  }

  /** Increments whenever `latest()` may have changed. */
  version(): number {
    return this.#version;
  }

  latest(): ConfState {
    return this.#changes.at(-1)?.conf ?? this.#base;
  }

  /** Index of the entry that introduced `latest()` (the base index when none). */
  latestIndex(): number {
    return this.#changes.at(-1)?.index ?? this.#baseIndex;
  }

  /** Membership as of `index`; `index` must not precede the base. */
  at(index: number): ConfState {
    let conf = this.#base;
    for (const change of this.#changes) {
      if (change.index > index) break;
      conf = change.conf;
    }
    return conf;
  }

  /** Entries appended at entries[0].index; configurations at or after it are replaced. */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const from = entries[0]!.index;
    const before = this.#changes.length;
    while (this.#changes.length > 0 && this.#changes.at(-1)!.index >= from) this.#changes.pop();
    let changed = this.#changes.length !== before;
    for (const entry of entries) {
      if (entry.type !== EntryType.ConfChange) continue;
      this.#changes.push({ index: entry.index, conf: applyConfChange(this.latest(), decodeConfChange(entry.data)) });
      changed = true;
    }
    if (changed) this.#version++;
  }

  /** A snapshot replaced the log. */
  restore(index: number, conf: ConfState): void {
    this.#baseIndex = index;
    this.#base = conf;
    this.#changes = [];
    this.#version++;
  }

  /** Folds configurations at or before `index` into the base; keeps memory bounded as the log is compacted. */
  compactTo(index: number): void {
    while (this.#changes.length > 0 && this.#changes[0]!.index <= index) {
      const first = this.#changes.shift()!;
      this.#baseIndex = first.index;
      this.#base = first.conf;
    }
  }
}
