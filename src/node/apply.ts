import { decodeConfChange } from '../raft/conf-change.js';
import type { ConfChange, Entry } from '../raft/types.js';
import { EntryType } from '../raft/types.js';
import { failpoint } from '../storage/failpoints.js';
import { commandScalesWithData } from '../store/command.js';
import type { StoreError } from '../store/errors.js';
import { type ApplyResult, type CommandResponse, isApplySteps, type StoreStateMachine } from '../store/state-machine.js';
import { commandBytesOf, decodeEntry } from './entry-codec.js';
import type { MembershipCommand } from './membership.js';

/** The writes a member waits on, by request id: wait.ts's Wait (the simulator answers its clients through its own). */
export interface WaitingWrites<Note> {
  note(id: string): Note | undefined;
  trigger(id: string, response: CommandResponse): boolean;
  fail(id: string, error: unknown): boolean;
}

/** What applying an entry needs of its member, beyond the store and the writes it waits on. */
export interface ApplyHost<Note extends object> {
  /** The state machine commands apply to (it also counts every entry as applied). */
  store(): StoreStateMachine;
  /** Writes proposed on this member, by request id: the member answers its own clients. */
  readonly pending: WaitingWrites<Note>;
  /** A ConfChange entry (already marked applied): membership follows it. */
  confChange(change: ConfChange): void;
  /** A membership command carried in a normal entry (already marked applied). */
  membershipCommand(command: MembershipCommand): void;
  /** A store command applied (leases reach the lessor, auth changes the token cache): on every member, proposed here or not. */
  commandApplied(response: CommandResponse): void;
  /** A store command refused by the store (every member refuses alike: malformed, NOSPACE, a compacted revision). */
  commandRejected?(error: StoreError): void;
  /** A write proposed here was answered (applied or refused by the store). */
  answered?(outcome: 'applied' | 'rejected', error?: StoreError): void;
}

/**
 * Applies committed entries in log order, on every member alike: decodes
 * the entry (entry-codec.ts), hands membership changes to the member, runs
 * store commands, and answers the writes this member proposed. Whatever
 * the store refuses (a malformed or unknown entry, NOSPACE) is refused the
 * same way on every member, so the state stays identical.
 */
export class Applier<Note extends object> {
  readonly #host: ApplyHost<Note>;

  constructor(host: ApplyHost<Note>) {
    this.#host = host;
  }

  /**
   * Applies `entry`, except a command the store applies in steps (a
   * DeleteRange or a lease revoke walking more than `keysMax` keys, StoreStateMachine.applyInSteps):
   * that one is left under way, and the caller steps it to its end before
   * it applies anything else. Its effects on the member (answering the
   * write, the lessor) come with the last step.
   */
  apply(entry: Entry, keysMax = Number.POSITIVE_INFINITY): EntryInSteps | undefined {
    const host = this.#host;
    const store = host.store();
    if (entry.type === EntryType.ConfChange) {
      store.markApplied(entry.index);
      host.confChange(decodeConfChange(entry.data));
      return;
    }
    const data = decodeEntry(entry.data);
    switch (data.kind) {
      case 'empty':
        store.markApplied(entry.index);
        return;
      case 'membership':
        store.markApplied(entry.index);
        if (data.command) host.membershipCommand(data.command);
        return;
      case 'command':
      case 'unknown':
        break; // both go to the state machine, which rejects what it cannot decode
    }
    const command = data.kind === 'command' ? data : undefined;
    failpoint('apply-before');
    const outcome = store.applyInSteps(entry.index, command?.command ?? entry.data, keysMax);
    if (isApplySteps(outcome)) {
      let finished = false;
      return {
        index: entry.index,
        step: (stepKeys) => {
          if (finished) return true;
          const result = outcome.step(stepKeys);
          if (result === undefined) return false;
          finished = true;
          failpoint('apply-after');
          this.#applied(command, result);
          return true;
        },
      };
    }
    failpoint('apply-after');
    this.#applied(command, outcome);
    return undefined;
  }

  /** What follows a store command's apply: the lessor and auth hear of it, and a write proposed here is answered. */
  #applied(command: { readonly requestId: string } | undefined, result: ApplyResult): void {
    const host = this.#host;
    if (result.status === 'applied') host.commandApplied(result.response);
    else if (result.status === 'rejected') host.commandRejected?.(result.error);
    if (!command || host.pending.note(command.requestId) === undefined) return;
    if (result.status === 'applied') {
      host.answered?.('applied');
      host.pending.trigger(command.requestId, result.response);
    } else if (result.status === 'rejected') {
      host.answered?.('rejected', result.error);
      host.pending.fail(command.requestId, result.error);
    }
  }
}

/** An entry the store applies over several calls (Applier.apply): step it until it returns true, and apply nothing else meanwhile. */
export interface EntryInSteps {
  readonly index: number;
  /** Walks up to `keysMax` more keys; true once the entry is applied and its write answered. */
  step(keysMax: number): boolean;
}

/**
 * True when applying the entry may hold the event loop for long: a store
 * command whose work grows with the data (see commandScalesWithData).
 */
export function entryScalesWithData(entry: Entry): boolean {
  if (entry.type !== EntryType.Normal) return false;
  const command = commandBytesOf(entry.data);
  return command !== undefined && commandScalesWithData(command);
}
