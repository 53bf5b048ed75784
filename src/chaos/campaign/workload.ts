import { KeelClient } from '../../client/index.js';
import { HistoryRecorder, recordWatch } from '../../check/index.js';
import { seededRandom } from '../../resilience/index.js';

/**
 * The clients of a Jepsen-style run: each one talks to one member (clients
 * are spread over every member, as Jepsen's are), does reads
 * (linearizable), writes of unique values and compare-and-sets on a few
 * keys, and records every operation for the checker. Bounded in time and
 * in operations; one operation at a time per client (a Jepsen process).
 */

export interface WorkloadOptions {
  /** Client URLs of the members; client i talks to endpoints[i % n] only. */
  readonly endpoints: readonly string[];
  readonly clients: number;
  readonly keys: number;
  readonly seed: number;
  /** A call's deadline: a write past it is recorded unknown (info), never failed. */
  readonly callTimeoutMs: number;
  /** Receives each history line (keel JSONL). */
  readonly sink: (line: string) => void;
  /** Operations per client at most (a bound besides time). */
  readonly operationsMaxPerClient?: number;
  /**
   * One watch stream per endpoint over every key of the workload, recorded
   * for etcd's revisioned checks (gap-free, in order). Default true.
   */
  readonly watch?: boolean;
  /**
   * Keys are this prefix and a number (default WORKLOAD_KEY_PREFIX). A run
   * on a cluster that earlier runs wrote must use a fresh prefix: the
   * checker takes every key to start empty.
   */
  readonly keyPrefix?: string;
}

/** Keys are `k0`, `k1`, ...: the watchers cover them all with this prefix. */
export const WORKLOAD_KEY_PREFIX = 'k';

export interface WorkloadStats {
  /** Operations started (their outcomes are in the history). */
  readonly operations: number;
  /** When each write or cas that succeeded completed, ms since the workload started. */
  readonly successfulWritesAtMs: readonly number[];
}

const OPERATIONS_MAX_PER_CLIENT_DEFAULT = 100_000;
/** After an error, a client waits this long before its next operation, so a dead member is not hammered. */
const PAUSE_AFTER_ERROR_MS = 50;

/** A running workload; `stop()` ends it after each client's current operation and returns the stats. */
export interface RunningWorkload {
  stop(): Promise<WorkloadStats>;
}

export function startWorkload(options: WorkloadOptions): RunningWorkload {
  if (options.endpoints.length === 0) throw new RangeError('a workload needs at least one endpoint');
  const started = performance.now();
  let stopping = false;
  const stats = { operations: 0, successfulWritesAtMs: [] as number[] };
  const runners = Array.from({ length: options.clients }, async (_, clientId) => {
    const client = new KeelClient({
      endpoints: [options.endpoints[clientId % options.endpoints.length]!],
      timeoutMs: options.callTimeoutMs,
      attemptTimeoutMs: options.callTimeoutMs,
      // Each client stays on its member, so faults on that member show in its history.
      preferLeader: false,
    });
    const recorder = new HistoryRecorder({ client, clientId, sink: options.sink });
    const random = seededRandom(options.seed * 1_000 + clientId);
    const lastSeen = new Map<string, string | null>();
    const bound = options.operationsMaxPerClient ?? OPERATIONS_MAX_PER_CLIENT_DEFAULT;
    try {
      for (let done = 0; !stopping && done < bound; done++) {
        const key = `${options.keyPrefix ?? WORKLOAD_KEY_PREFIX}${Math.floor(random.next() * options.keys)}`;
        const draw = random.next();
        stats.operations++;
        try {
          if (draw < 0.4) {
            lastSeen.set(key, await recorder.read(key));
          } else if (draw < 0.7) {
            const value = await recorder.write(key);
            lastSeen.set(key, value);
            stats.successfulWritesAtMs.push(performance.now() - started);
          } else {
            const result = await recorder.cas(key, lastSeen.get(key) ?? null);
            if (result.succeeded) {
              lastSeen.set(key, result.value);
              stats.successfulWritesAtMs.push(performance.now() - started);
            } else {
              lastSeen.delete(key);
            }
          }
        } catch {
          // Recorded by the recorder (fail or info); the key's value is no longer known here.
          lastSeen.delete(key);
          await new Promise((resolve) => setTimeout(resolve, PAUSE_AFTER_ERROR_MS));
        }
      }
    } finally {
      await client.close();
    }
  });
  const all = Promise.all(runners);
  const watchers = options.watch === false ? [] : options.endpoints.map((endpoint, index) => startWatcher(endpoint, `watch-${index}`, options));
  return {
    async stop(): Promise<WorkloadStats> {
      stopping = true;
      await all;
      await Promise.all(watchers.map((watcher) => watcher.stop()));
      return { ...stats, successfulWritesAtMs: [...stats.successfulWritesAtMs].sort((a, b) => a - b) };
    },
  };
}

/**
 * A watch on one member from the revision it reports now on. Until the
 * member answers (it may be down when the run starts) the watcher keeps
 * asking, bounded by the workload's end.
 */
function startWatcher(endpoint: string, name: string, options: WorkloadOptions): { stop(): Promise<void> } {
  const client = new KeelClient({ endpoints: [endpoint], timeoutMs: options.callTimeoutMs, attemptTimeoutMs: options.callTimeoutMs, preferLeader: false });
  let stopping = false;
  let watch: ReturnType<KeelClient['watch']> | undefined;
  const running = (async () => {
    for (let attempt = 0; !stopping && attempt < 1_000; attempt++) {
      try {
        const prefix = options.keyPrefix ?? WORKLOAD_KEY_PREFIX;
        const { header } = await client.range(prefix, { serializable: true });
        if (stopping) return;
        watch = client.watch(prefix, { prefix: true, startRevision: header.revision + 1 });
        await recordWatch({ watch, watcher: name, prefix, startRevision: header.revision + 1, sink: options.sink });
        return;
      } catch {
        await new Promise((resolve) => setTimeout(resolve, PAUSE_AFTER_ERROR_MS));
      }
    }
  })();
  return {
    async stop(): Promise<void> {
      stopping = true;
      await watch?.close();
      await running;
      await client.close();
    },
  };
}

/** The longest time in [fromMs, toMs] with no successful write: how long the store was unavailable for writes. */
export function longestWriteGapMs(successfulWritesAtMs: readonly number[], fromMs: number, toMs: number): number {
  let previous = fromMs;
  let longest = 0;
  for (const at of successfulWritesAtMs) {
    if (at < fromMs) continue;
    if (at > toMs) break;
    longest = Math.max(longest, at - previous);
    previous = at;
  }
  return Math.max(longest, toMs - previous);
}
