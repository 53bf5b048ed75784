import { NEVER_ABORTED } from './abort.js';
import type { Criticality } from './criticality.js';
import { type DeadlineEntry, DUE_MS, HEAP_INDEX, ON_DEADLINE, SEQUENCE } from './deadline-heap.js';
import type { PolicyContext, RequestInfo } from './policy.js';

/**
 * Own, enumerable and symbol-keyed, so `{ ...context }` copies it: a copy
 * loses the `signal` getter (it lives on the prototype) but `toContext` finds
 * the signal again through this link.
 */
export const SIGNAL_SOURCE: unique symbol = Symbol('keel.resilience.signalSource');

/**
 * The context a timeout passes inward, which is also its entry in the
 * deadline heap: one object per call.
 *
 * Its `signal` is built on first read. An AbortController (and a listener
 * on the caller's signal) per call is most of what a timeout used to cost,
 * and a function that never looks at its signal cannot observe whether it
 * existed. Reading it gives exactly what an eager signal would show at that
 * moment: already aborted with the timeout's error if the deadline passed,
 * with the caller's reason if the caller aborted first, and otherwise a live
 * signal linked to the caller's until the call settles.
 */
export class TimedContext implements PolicyContext, DeadlineEntry {
  readonly attempt: number;
  readonly deadlineMs: number;
  readonly criticality: Criticality;
  readonly key: string | undefined;
  readonly request: RequestInfo | undefined;
  readonly [SIGNAL_SOURCE]: TimedContext;
  [DUE_MS]: number;
  [HEAP_INDEX] = -1;
  [SEQUENCE] = 0;
  /** The caller's context; a timeout's own is read without building its signal until needed. */
  readonly #parent: PolicyContext;
  /** The caller's signal can never fire (the caller gave none). */
  readonly #parentNever: boolean;
  readonly #startedMs: number;
  readonly #onExpire: (call: TimedContext) => void;
  #controller: AbortController | undefined = undefined;
  #onParentAbort: (() => void) | undefined = undefined;
  /** Set when the call was aborted before anyone built the signal: its reason waits here. */
  #aborted = false;
  #abortReason: unknown = undefined;
  #settled = false;
  #expired: Error | undefined = undefined;
  #rejectEarly: ((error: Error) => void) | undefined = undefined;

  constructor(parent: PolicyContext, startedMs: number, deadlineMs: number, onExpire: (call: TimedContext) => void) {
    this.attempt = parent.attempt;
    this.deadlineMs = deadlineMs;
    this.criticality = parent.criticality;
    this.key = parent.key;
    this.request = parent.request;
    this[SIGNAL_SOURCE] = this;
    this[DUE_MS] = deadlineMs;
    this.#parent = parent;
    this.#parentNever = !(parent instanceof TimedContext) && parent.signal === NEVER_ABORTED;
    this.#startedMs = startedMs;
    this.#onExpire = onExpire;
  }

  get signal(): AbortSignal {
    return (this.#controller ?? this.#materialize()).signal;
  }

  /** Whether the signal is (or would be, once built) aborted; does not build it. */
  get aborted(): boolean {
    if (this.#controller !== undefined) return this.#controller.signal.aborted;
    return this.#aborted || (!this.#settled && !this.#parentNever && isAborted(this.#parent));
  }

  [ON_DEADLINE](): void {
    this.#onExpire(this);
  }

  /** When the timeout admitted the call, on its clock. */
  get startedMs(): number {
    return this.#startedMs;
  }

  /** The error the call gets because its deadline passed, once it has. */
  get expired(): Error | undefined {
    return this.#expired;
  }

  /** An aggressive timeout rejects through this as soon as the deadline passes. */
  onExpired(reject: (error: Error) => void): void {
    this.#rejectEarly = reject;
  }

  /** The deadline passed: abort the signal with `error` and reject early if asked to. */
  expire(error: Error): void {
    this.#expired = error;
    this.abort(error);
    this.#rejectEarly?.(error);
  }

  /** Aborts the call's signal (or records the abort for when it is built). The first reason wins, as with an eager signal. */
  abort(reason: Error): void {
    if (this.#controller !== undefined) {
      this.#controller.abort(reason);
      return;
    }
    if (this.#aborted) return;
    this.#aborted = true;
    this.#abortReason = !this.#parentNever && isAborted(this.#parent) ? this.#parent.signal.reason : reason;
  }

  /** The call is over: stop following the caller's signal. */
  settle(): void {
    this.#settled = true;
    if (this.#onParentAbort !== undefined) {
      this.#parent.signal.removeEventListener('abort', this.#onParentAbort);
      this.#onParentAbort = undefined;
      return;
    }
    // An eager signal would have followed the caller's abort until now.
    if (this.#controller === undefined && !this.#aborted && !this.#parentNever && isAborted(this.#parent)) {
      this.#aborted = true;
      this.#abortReason = this.#parent.signal.reason;
    }
  }

  #materialize(): AbortController {
    const controller = new AbortController();
    this.#controller = controller;
    if (this.#aborted) controller.abort(this.#abortReason);
    if (this.#aborted || this.#settled || this.#parentNever) return controller;
    const parent = this.#parent.signal;
    if (parent.aborted) controller.abort(parent.reason);
    else {
      this.#onParentAbort = () => controller.abort(parent.reason);
      parent.addEventListener('abort', this.#onParentAbort, { once: true });
    }
    return controller;
  }
}

/** Whether the context's signal has fired, without building a timeout's lazy signal. */
export function isAborted(context: PolicyContext): boolean {
  if (context instanceof TimedContext) return context.aborted;
  return context.signal !== NEVER_ABORTED && context.signal.aborted;
}
