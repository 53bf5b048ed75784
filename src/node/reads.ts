import { randomBytes } from 'node:crypto';
import type { NodeId, ReadState } from '../raft/types.js';
import { NONE } from '../raft/types.js';
import { LeaderChangedError, NoLeaderError, OverloadedError, RequestTimeoutError } from './errors.js';
import { Wait } from './wait.js';

/** ReadIndex rounds one linearizable read tries (each leader change starts another, within the request's deadline). */
export const READ_ATTEMPTS_MAX = 8;

/** What the reads need of the member. */
export interface ReadHost {
  /** The leader this member knows, or NONE. */
  leader(): NodeId;
  /** The member is stopping or stopped: nobody will be elected for it any more. */
  stopping(): boolean;
  /** Throws StoppingError when the member no longer takes requests. */
  checkAccepting(): void;
  /** Aborted (and replaced) at every change of leader. */
  leaderChange(): AbortSignal;
  /** Whether one more request would pass the member's bound on pending requests. */
  full(): boolean;
  /** Starts a ReadIndex round with this context (raft's readIndex, then a Ready). */
  readIndex(context: Uint8Array): void;
}

/** What the member notes on a waiting read. */
interface ReadNote {
  /** Set once the leader confirmed the read index. */
  index?: number;
}

/**
 * Linearizable reads: a ReadIndex round per read (never reused across
 * retries), answered once this member has applied the index the leader
 * confirmed. A read is safe to repeat, so a round lost to a leader change
 * (or started mid-election) is retried with the next leader within the same
 * deadline instead of failing with "leader changed" as etcd does (etcd
 * leaves that retry to its client; curl users of the JSON gateway have none).
 */
export class Reads {
  readonly #host: ReadHost;
  /** Reads waiting for their read index, by ReadIndex context. */
  readonly #pending = new Wait<void, ReadNote>();

  constructor(host: ReadHost) {
    this.#host = host;
  }

  get size(): number {
    return this.#pending.size;
  }

  /** Waits until a read started now would be linearizable, retrying across leader changes within `timeoutMs`. */
  async barrier(timeoutMs: number): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    for (let attempt = 0; ; attempt++) {
      const remainingMs = Math.floor(deadline - performance.now());
      if (remainingMs <= 0) throw new RequestTimeoutError(timeoutMs);
      if (this.#host.leader() === NONE) {
        if (!(await this.waitForLeader(remainingMs))) throw new NoLeaderError();
        continue;
      }
      try {
        return await this.round(remainingMs);
      } catch (error) {
        if (!(error instanceof LeaderChangedError) || attempt + 1 >= READ_ATTEMPTS_MAX) throw error;
        this.#host.checkAccepting();
      }
    }
  }

  /** One ReadIndex round: fails on a leader change (lease revokes rely on that to learn they were deposed). */
  round(timeoutMs: number): Promise<void> {
    if (this.#host.leader() === NONE) return Promise.reject(new NoLeaderError());
    if (this.#host.full()) return Promise.reject(new OverloadedError('too many requests pending on this member', 1));
    const context = randomBytes(12);
    const done = this.#pending.register(contextKey(context), timeoutMs, () => new RequestTimeoutError(timeoutMs), {});
    this.#host.readIndex(context);
    return done;
  }

  /** Resolves true once a leader is known, false when `timeoutMs` passes first. */
  async waitForLeader(timeoutMs: number): Promise<boolean> {
    const deadline = performance.now() + timeoutMs;
    while (this.#host.leader() === NONE && !this.#host.stopping()) {
      const remainingMs = deadline - performance.now();
      if (remainingMs <= 0) return false;
      await this.untilLeaderChange(remainingMs);
    }
    return this.#host.leader() !== NONE;
  }

  /** Resolves at the next change of leader, or after `timeoutMs`. */
  untilLeaderChange(timeoutMs: number): Promise<void> {
    const changed = this.#host.leaderChange();
    return new Promise<void>((resolve) => {
      // The listener goes when the timer fires: a long leaderless spell must not pile listeners onto one signal.
      const onChange = (): void => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        changed.removeEventListener('abort', onChange);
        resolve();
      }, timeoutMs);
      changed.addEventListener('abort', onChange, { once: true });
    });
  }

  /** The leader confirmed these read indexes (a Ready's readStates). */
  confirmed(states: readonly ReadState[]): void {
    for (const state of states) {
      const note = this.#pending.note(contextKey(state.context));
      if (note) note.index = state.index;
    }
  }

  /** Answers the reads whose confirmed index this member has applied. */
  answer(appliedIndex: number): void {
    if (this.#pending.size === 0) return; // every Ready calls this; most have no read waiting
    for (const [key, note] of this.#pending.notes()) {
      if (note.index !== undefined && note.index <= appliedIndex) this.#pending.trigger(key, undefined);
    }
  }

  /**
   * Read index requests sent to the previous leader may be lost with it:
   * fail them now (as etcd's "leader changed"; `barrier` retries them with
   * the next leader) rather than at their deadline.
   */
  leaderChanged(): void {
    this.#pending.failAll(() => new LeaderChangedError());
  }

  failAll(error: () => unknown): void {
    this.#pending.failAll(error);
  }
}

function contextKey(context: Uint8Array): string {
  return Buffer.from(context.buffer, context.byteOffset, context.byteLength).toString('base64');
}
