import type { Clock } from './clock.js';
import { AbortedError } from './errors.js';

/**
 * The signal of a call whose caller gave none. It never fires, which lets a
 * timeout skip linking its own signal to it.
 */
export const NEVER_ABORTED: AbortSignal = new AbortController().signal;

/** Throws `AbortedError` (carrying the signal's reason) when `signal` has fired. */
export function throwIfAborted(signal: AbortSignal): void {
  if (signal.aborted) throw abortError(signal);
}

/** The error a policy surfaces for an aborted signal: the reason itself when it is already one of ours. */
export function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error && (reason as { code?: unknown }).code !== undefined && String((reason as { code?: unknown }).code).startsWith('KEEL_RES_')) {
    return reason;
  }
  return new AbortedError(reason);
}

/** Waits `delayMs` on `clock`; rejects with `AbortedError` as soon as `signal` fires. */
export function sleep(clock: Clock, delayMs: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.reject(abortError(signal));
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      clock.clearTimeout(handle);
      reject(abortError(signal));
    };
    const handle = clock.setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, delayMs);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * A child controller that aborts when `parent` does. Call `dispose` when done
 * so a long-lived parent signal does not keep a listener per call.
 */
export interface LinkedController {
  readonly controller: AbortController;
  readonly signal: AbortSignal;
  dispose(): void;
}

export function linkedController(parent: AbortSignal): LinkedController {
  const controller = new AbortController();
  if (parent.aborted) {
    controller.abort(parent.reason);
    return { controller, signal: controller.signal, dispose: () => {} };
  }
  const onAbort = (): void => controller.abort(parent.reason);
  parent.addEventListener('abort', onAbort, { once: true });
  return {
    controller,
    signal: controller.signal,
    dispose: () => parent.removeEventListener('abort', onAbort),
  };
}
