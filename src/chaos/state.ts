import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Action } from './actions.js';
import { StateDirError } from './errors.js';
import { ACTIVE_FAULTS_MAX } from './limits.js';

/**
 * A fault as it is kept on disk, one file per fault under `<state>/faults/`.
 * It is written before the fault is injected (an intent log): a controller
 * killed mid-injection leaves a record whose undo the watchdog or `keel chaos
 * heal` runs. Undo steps are idempotent, so undoing what was never done is
 * harmless.
 */
export interface FaultRecord {
  readonly id: string;
  readonly kind: string;
  readonly description: string;
  readonly createdAt: number;
  /** Wall-clock ms when the lease ends and the watchdog undoes the fault. */
  readonly expiresAt: number;
  readonly undo: readonly Action[];
}

/**
 * Where keel chaos keeps its state: /run/keel-chaos for root (tmpfs: gone
 * with a reboot, as the faults are), else a per-user directory under the
 * temporary directory.
 */
export function defaultStateDir(): string {
  return process.getuid?.() === 0 ? '/run/keel-chaos' : join(tmpdir(), `keel-chaos-${process.getuid?.() ?? 'user'}`);
}

/** The fault records of one state dir. Each write replaces a whole file (write, rename), so a reader never sees half a record. */
export class FaultStore {
  readonly dir: string;
  readonly #faults: string;
  readonly #failed: string;

  constructor(dir: string) {
    this.dir = dir;
    this.#faults = join(dir, 'faults');
    this.#failed = join(dir, 'failed');
    try {
      mkdirSync(this.#faults, { recursive: true, mode: 0o700 });
    } catch (error) {
      throw new StateDirError(dir, (error as Error).message);
    }
  }

  get watchdogPidFile(): string {
    return join(this.dir, 'watchdog.pid');
  }

  get watchdogLog(): string {
    return join(this.dir, 'watchdog.log');
  }

  write(record: FaultRecord): void {
    if (this.list().length >= ACTIVE_FAULTS_MAX && !this.#has(record.id)) throw new StateDirError(this.dir, `${ACTIVE_FAULTS_MAX} faults active already; heal some first (keel chaos heal)`);
    const path = join(this.#faults, `${record.id}.json`);
    writeFileSync(`${path}.tmp`, `${JSON.stringify(record)}\n`, { mode: 0o600 });
    renameSync(`${path}.tmp`, path);
  }

  remove(id: string): void {
    rmSync(join(this.#faults, `${id}.json`), { force: true });
  }

  /** Moves a record whose undo keeps failing aside, for an operator (it stays listed by `keel chaos status`). */
  giveUp(id: string): void {
    mkdirSync(this.#failed, { recursive: true });
    try {
      renameSync(join(this.#faults, `${id}.json`), join(this.#failed, `${id}.json`));
    } catch {
      // already removed by another healer
    }
  }

  list(): FaultRecord[] {
    return this.#read(this.#faults);
  }

  failed(): FaultRecord[] {
    return this.#read(this.#failed);
  }

  #has(id: string): boolean {
    return this.list().some((record) => record.id === id);
  }

  #read(dir: string): FaultRecord[] {
    let names: string[];
    try {
      names = readdirSync(dir).filter((name) => name.endsWith('.json'));
    } catch {
      return [];
    }
    const records: FaultRecord[] = [];
    for (const name of names.slice(0, ACTIVE_FAULTS_MAX * 2)) {
      try {
        records.push(JSON.parse(readFileSync(join(dir, name), 'utf8')) as FaultRecord);
      } catch {
        // removed meanwhile by another healer
      }
    }
    return records.sort((a, b) => a.createdAt - b.createdAt);
  }
}
