import { EVENT_LISTENERS_MAX } from './limits.js';
import { ConfigError } from './errors.js';

/** Returned by every subscription; `dispose()` unsubscribes (idempotent). */
export interface Disposable {
  dispose(): void;
}

/** Policies emit through this symbol so `emit` is not part of the public surface. */
export const EMIT: unique symbol = Symbol('keel.resilience.emit');

type Listener<E> = (event: E) => void;

/**
 * A typed event stream. Events are a discriminated union on `type`;
 * `on('retry', e => ...)` narrows `e` to the retry event. A listener that
 * throws does not break the policy: the error is rethrown on a later
 * microtask, where it surfaces as an uncaught exception like any other bug.
 */
export class EventSource<E extends { readonly type: string }> {
  #listeners: Array<Listener<E>> = [];

  /** Subscribes to one event type. */
  on<K extends E['type']>(type: K, listener: (event: Extract<E, { type: K }>) => void): Disposable {
    return this.onAny((event) => {
      if (event.type === type) listener(event as Extract<E, { type: K }>);
    });
  }

  /** Subscribes to every event. */
  onAny(listener: (event: E) => void): Disposable {
    if (this.#listeners.length >= EVENT_LISTENERS_MAX) {
      throw new ConfigError(`more than ${EVENT_LISTENERS_MAX} listeners on one event source (a leak?)`);
    }
    this.#listeners = [...this.#listeners, listener];
    let active = true;
    return {
      dispose: () => {
        if (!active) return;
        active = false;
        this.#listeners = this.#listeners.filter((candidate) => candidate !== listener);
      },
    };
  }

  /** True when someone listens; policies skip building events otherwise. */
  get active(): boolean {
    return this.#listeners.length > 0;
  }

  [EMIT](event: E): void {
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch (error) {
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }
}
