import { HttpError, put, sleep } from './cluster-harness.js';

/**
 * A client that writes unique keys continuously, spreading requests over the
 * members and moving on when one fails. It records what was acknowledged
 * (must survive anything) and what is unknown (timed out or cut off: may or
 * may not have applied). Bounded in count and time; stops by itself.
 */
export class Writer {
  readonly acknowledged = new Map<string, string>();
  readonly unknown = new Set<string>();
  refused = 0;
  #running = false;
  #done: Promise<void> | undefined;
  #sequence = 0;

  constructor(
    readonly urls: () => string[],
    readonly prefix: string,
    readonly writesMax = 5_000,
    readonly durationMsMax = 20_000,
  ) {}

  start(): void {
    this.#running = true;
    this.#done = this.#loop();
  }

  /** Resolves when the writer reached its bound (count or time) by itself. */
  async done(): Promise<void> {
    await this.#done;
  }

  async stop(): Promise<void> {
    this.#running = false;
    await this.#done;
  }

  async #loop(): Promise<void> {
    const deadline = Date.now() + this.durationMsMax;
    let target = 0;
    while (this.#running && this.#sequence < this.writesMax && Date.now() < deadline) {
      const urls = this.urls();
      if (urls.length === 0) {
        await sleep(20);
        continue;
      }
      const url = urls[target++ % urls.length]!;
      const key = `${this.prefix}${String(++this.#sequence).padStart(6, '0')}`;
      const value = `v${this.#sequence}`;
      try {
        await put(url, key, value, 2_000);
        this.acknowledged.set(key, value);
      } catch (error) {
        // A refusal before proposing (no leader, stopping, connection refused) did not apply;
        // a timeout or a cut connection might have.
        if (error instanceof HttpError && error.status !== 503) this.refused++;
        else if (error instanceof HttpError && String(error.body.keel_code) === 'KEEL_NODE_NO_LEADER') this.refused++;
        else if (isConnectionRefused(error)) this.refused++;
        else this.unknown.add(key);
        await sleep(10);
      }
    }
  }
}

function isConnectionRefused(error: unknown): boolean {
  const cause = (error as { cause?: { code?: string } }).cause;
  return cause?.code === 'ECONNREFUSED';
}
