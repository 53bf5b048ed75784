import type { Operation, PolicyContext } from './policy.js';

/** Where a policy keeps its stage; `wrap` fuses consecutive policies that have one. */
export const STAGE: unique symbol = Symbol('keel.resilience.stage');

/**
 * A policy's synchronous fast path. When every stage of a run admits a call
 * (nothing has to wait, refuse or race), the run enters them all outermost
 * first, calls the function once, and leaves them innermost first in one
 * continuation: one promise for the whole stack instead of an async frame
 * and a promise per policy. When any stage does not admit, the run falls
 * back to the policies' own nested `general` implementations, which are the
 * reference behaviour; `admits` has no side effects, so nothing needs undoing.
 *
 * The general path also enters every policy synchronously before the
 * function runs (each `execute` reaches its first `await` only after calling
 * inward), so the state `admits` saw is still the state `enter` changes.
 */
export interface Stage {
  /** True when this call passes without waiting or racing. No side effects. */
  admits(context: PolicyContext): boolean;
  /** Admits the call and returns what `inner` and `leave` need. May throw to refuse it (the outer stages then leave with that error). */
  enter(context: PolicyContext): unknown;
  /** The context to pass inward. */
  inner(token: unknown, context: PolicyContext): PolicyContext;
  /**
   * Releases what `enter` took and may rewrite `run.ok`/`run.value`.
   * Returns a promise when the stage continues the call (a retry running
   * further attempts through `run.rerun`); the run waits for it.
   */
  leave(token: unknown, context: PolicyContext, run: StageRun, index: number): Promise<void> | undefined;
  /** The policy's nested implementation, for calls some stage does not admit. */
  general<T>(fn: Operation<T>, context: PolicyContext): Promise<T>;
}

/** How the call has settled so far, as each stage leaves. */
export interface StageRun {
  ok: boolean;
  /** The result when ok, else the error. */
  value: unknown;
  /** Runs the stages inside `index` and the function again (another attempt). */
  rerun(index: number, context: PolicyContext): Promise<unknown>;
}

/** Calls `fn`, turning a synchronous throw into a rejection. */
function call<T>(fn: Operation<T>, context: PolicyContext): PromiseLike<T> | T {
  try {
    return fn(context);
  } catch (error) {
    return Promise.reject(error);
  }
}

class FusedRun<T> implements StageRun {
  ok = false;
  value: unknown = undefined;
  readonly #stages: readonly Stage[];
  readonly #fn: Operation<T>;
  /** Per stage, the context it was given and the token its `enter` returned: [context0, token0, context1, token1, ...]. */
  readonly #slots: unknown[];
  /** Stages entered (refusal by `enter` stops short of all). */
  #entered = 0;

  constructor(stages: readonly Stage[], fn: Operation<T>) {
    this.#stages = stages;
    this.#fn = fn;
    this.#slots = new Array<unknown>(2 * stages.length);
  }

  start(context: PolicyContext): Promise<T> {
    const stages = this.#stages;
    let current = context;
    let result: PromiseLike<T> | T;
    try {
      for (let index = 0; index < stages.length; index++) {
        const stage = stages[index] as Stage;
        this.#slots[2 * index] = current;
        const token = stage.enter(current);
        this.#slots[2 * index + 1] = token;
        this.#entered = index + 1;
        current = stage.inner(token, current);
      }
      result = call(this.#fn, current);
    } catch (error) {
      result = Promise.reject(error);
    }
    return Promise.resolve(result).then(
      (value) => {
        this.ok = true;
        this.value = value;
        return this.#leave(this.#entered - 1);
      },
      (error: unknown) => {
        this.ok = false;
        this.value = error;
        return this.#leave(this.#entered - 1);
      },
    );
  }

  rerun(index: number, context: PolicyContext): Promise<unknown> {
    return runStages(this.#stages, index + 1, this.#fn, context);
  }

  #leave(from: number): T | Promise<T> {
    for (let index = from; index >= 0; index--) {
      const stage = this.#stages[index] as Stage;
      const pending = stage.leave(this.#slots[2 * index + 1], this.#slots[2 * index] as PolicyContext, this, index);
      if (pending !== undefined) return pending.then(() => this.#leave(index - 1));
    }
    if (this.ok) return this.value as T;
    throw this.value;
  }
}

/**
 * Runs `fn` under `stages[start..]`: fused when every stage admits the
 * call, else through the first stage's general implementation (whose inner
 * call comes back here for the rest).
 */
export function runStages<T>(stages: readonly Stage[], start: number, fn: Operation<T>, context: PolicyContext): Promise<T> {
  if (start >= stages.length) return Promise.resolve(call(fn, context));
  for (let index = start; index < stages.length; index++) {
    if (!(stages[index] as Stage).admits(context)) return (stages[start] as Stage).general((inner) => runStages(stages, start + 1, fn, inner), context);
  }
  return new FusedRun(start === 0 ? stages : stages.slice(start), fn).start(context);
}
