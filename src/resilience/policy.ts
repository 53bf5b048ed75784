import { NEVER_ABORTED } from './abort.js';
import { type Criticality, DEFAULT_CRITICALITY } from './criticality.js';
import type { HeadersLike, Outcome } from './classify.js';
import { runStages, STAGE, type Stage } from './stage.js';
import { SIGNAL_SOURCE, TimedContext } from './timed-context.js';

/** What a policy knows about the HTTP (or HTTP-like) request it protects, for retry safety. */
export interface RequestInfo {
  /** The HTTP method; idempotent methods may be retried. */
  readonly method?: string;
  /** Request headers; an `Idempotency-Key` makes any method retryable. */
  readonly headers?: HeadersLike;
}

/**
 * What every policy hands to the next one and finally to the protected
 * function. Policies never mutate a context; those that change it (a
 * timeout narrows the signal and the deadline, a retry counts attempts) pass
 * a new one inward.
 */
export interface PolicyContext {
  /** Aborted when the caller, a timeout or a deadline gives up. Pass it to I/O. */
  readonly signal: AbortSignal;
  /** 1 for the first attempt; retries and hedges count up. */
  readonly attempt: number;
  /** Absolute deadline on the policies' clock (ms), or undefined for none. */
  readonly deadlineMs: number | undefined;
  /** How important this request is; see `Criticality`. */
  readonly criticality: Criticality;
  /** A partition key for keyed limiters and bulkheads (customer, user, IP, dependency). */
  readonly key: string | undefined;
  /** The request being protected, when it is an HTTP call. */
  readonly request: RequestInfo | undefined;
}

/** Options to `execute`: any part of a context; the rest takes defaults. */
export type ExecuteOptions = Partial<PolicyContext>;

/** The protected operation. */
export type Operation<T> = (context: PolicyContext) => PromiseLike<T> | T;

/**
 * The one interface every policy implements. `execute` runs `fn` under the
 * policy and resolves with its result or rejects with its error (or a typed
 * `ResilienceError` when the policy refuses or gives up).
 */
export interface Policy {
  execute<T>(fn: Operation<T>, options?: ExecuteOptions): Promise<T>;
}


/**
 * Fills the defaults of a context. Cheap when given a full context already.
 * A copy of a timeout's context made with `{ ...context }` has no `signal`
 * of its own (the timeout builds it on first read); it is found again here.
 */
export function toContext(options: ExecuteOptions | undefined): PolicyContext {
  if (options === undefined) return DEFAULT_CONTEXT;
  if (options instanceof TimedContext || isFullContext(options)) return options;
  return {
    signal: options.signal ?? (options as { [SIGNAL_SOURCE]?: TimedContext })[SIGNAL_SOURCE]?.signal ?? NEVER_ABORTED,
    attempt: options.attempt ?? 1,
    deadlineMs: options.deadlineMs,
    criticality: options.criticality ?? DEFAULT_CRITICALITY,
    key: options.key,
    request: options.request,
  };
}

const DEFAULT_CONTEXT: PolicyContext = Object.freeze({
  signal: NEVER_ABORTED,
  attempt: 1,
  deadlineMs: undefined,
  criticality: DEFAULT_CRITICALITY,
  key: undefined,
  request: undefined,
});

function isFullContext(options: ExecuteOptions): options is PolicyContext {
  return options.signal !== undefined && options.attempt !== undefined && options.criticality !== undefined && 'deadlineMs' in options && 'key' in options && 'request' in options;
}

/** `context` with `changes`, keeping a timeout's signal (a plain spread would drop it; see `toContext`). */
export function deriveContext(context: PolicyContext, changes: Partial<PolicyContext>): PolicyContext {
  return {
    signal: changes.signal ?? context.signal,
    attempt: changes.attempt ?? context.attempt,
    deadlineMs: 'deadlineMs' in changes ? changes.deadlineMs : context.deadlineMs,
    criticality: changes.criticality ?? context.criticality,
    key: 'key' in changes ? changes.key : context.key,
    request: 'request' in changes ? changes.request : context.request,
  };
}

/** Calls `fn` and turns a synchronous throw into a rejection. */
export function invoke<T>(fn: Operation<T>, context: PolicyContext): Promise<T> {
  try {
    return Promise.resolve(fn(context));
  } catch (error) {
    return Promise.reject(error);
  }
}

/** Runs `fn` and captures how it settled. */
export async function settle<T>(fn: Operation<T>, context: PolicyContext): Promise<Outcome<T>> {
  try {
    return { ok: true, value: await invoke(fn, context) };
  } catch (error) {
    return { ok: false, error };
  }
}

/** A policy that only runs the function; the identity of `wrap`. */
export const noop: Policy = Object.freeze({
  execute<T>(fn: Operation<T>, options?: ExecuteOptions): Promise<T> {
    return invoke(fn, toContext(options));
  },
});

/** The result of `wrap`: a policy that also lists what it wraps. */
export interface WrappedPolicy extends Policy {
  readonly policies: readonly Policy[];
}

/**
 * Composes policies, outermost first: `wrap(fallback, retry, breaker,
 * bulkhead, timeout)` runs the timeout innermost, around each attempt, and
 * the fallback around everything. The context flows inward, each policy
 * passing on what it changed.
 */
export function wrap(...policies: Policy[]): WrappedPolicy {
  const chain = Object.freeze([...policies]);
  const segments = fusedSegments(chain);
  const run = <T>(index: number, fn: Operation<T>, context: PolicyContext): Promise<T> => {
    const policy = chain[index];
    if (policy === undefined) return invoke(fn, context);
    const segment = segments[index];
    if (segment === undefined) return policy.execute((inner) => run(index + 1, fn, inner), context);
    const end = index + segment.length;
    return runStages(segment, 0, end === chain.length ? fn : (inner) => run(end, fn, inner), context);
  };
  return Object.freeze({
    policies: chain,
    execute<T>(fn: Operation<T>, options?: ExecuteOptions): Promise<T> {
      return run(0, fn, toContext(options));
    },
  });
}

/**
 * For each index that starts a run of policies with fast-path stages, the
 * stages of that run (see `Stage`); policies without one (yours, hedge,
 * fallback ...) run nested as before, between the runs.
 */
function fusedSegments(chain: readonly Policy[]): Array<readonly Stage[] | undefined> {
  const segments: Array<readonly Stage[] | undefined> = [];
  for (let index = 0; index < chain.length; ) {
    const stages: Stage[] = [];
    while (index + stages.length < chain.length) {
      const stage = (chain[index + stages.length] as { [STAGE]?: Stage })[STAGE];
      if (stage === undefined) break;
      stages.push(stage);
    }
    segments[index] = stages.length > 0 ? Object.freeze(stages) : undefined;
    index += Math.max(1, stages.length);
  }
  return segments;
}
