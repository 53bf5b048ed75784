import { FakeClock } from '../../src/resilience/clock.js';

/** An error shaped like a Node network error. */
export function networkError(code: string): Error {
  return Object.assign(new Error(code), { code });
}

/** An HTTP error response as a thrown error (status and headers). */
export function httpError(status: number, headers: Record<string, string> = {}): Error {
  return Object.assign(new Error(`HTTP ${status}`), { status, headers });
}

/** A function that fails with the given errors in turn, then returns 'ok'. */
export function failing(errors: unknown[]): { fn: () => Promise<string>; calls: () => number } {
  let calls = 0;
  return {
    fn: async () => {
      const error = errors[calls++];
      if (error !== undefined) throw error;
      return 'ok';
    },
    calls: () => calls,
  };
}

/** Settles a promise into a tagged result so a test can advance a fake clock before asserting. */
export function capture<T>(promise: Promise<T>): { readonly done: () => boolean; readonly value: () => T | undefined; readonly error: () => unknown } {
  let done = false;
  let value: T | undefined;
  let error: unknown;
  promise.then(
    (result) => {
      done = true;
      value = result;
    },
    (reason: unknown) => {
      done = true;
      error = reason;
    },
  );
  return { done: () => done, value: () => value, error: () => error };
}

/** A promise that resolves when its signal aborts (or by hand), for functions that respect cancellation. */
export function untilAborted(signal: AbortSignal): Promise<never> {
  return new Promise((_resolve, reject) => {
    signal.addEventListener('abort', () => reject(Object.assign(new Error('aborted'), { name: 'AbortError' })), { once: true });
  });
}

export function newClock(): FakeClock {
  return new FakeClock(1_700_000_000_000);
}
