import {
  adaptiveConcurrency, type AdaptiveConcurrencyPolicy, type Clock, type ConcurrencyPermit, type Criticality, criticalityPartitions, gradientLimit,
} from '../resilience/index.js';
import type { ClusterConfig } from './config.js';
import { GatewayError } from './errors.js';

/**
 * Adaptive concurrency per cluster, partitioned by criticality (keel/resilience's
 * gradient limit; CRITICAL_PLUS/CRITICAL keep `criticalShare` of the limit),
 * so under overload the sheddable classes are refused first. A refusal is
 * `KEEL_GW_OVERLOADED` (503, `keel-reject-reason: overloaded`).
 */
export class Admission {
  readonly #limiters = new Map<string, { signature: string; policy: AdaptiveConcurrencyPolicy }>();

  constructor(clusters: Readonly<Record<string, ClusterConfig>>, clock: Clock, previous?: Admission) {
    for (const [name, cluster] of Object.entries(clusters)) {
      const options = cluster.adaptiveConcurrency;
      if (options === undefined) continue;
      const signature = JSON.stringify(options);
      const old = previous === undefined ? undefined : previous.#limiters.get(name);
      if (old && old.signature === signature) {
        this.#limiters.set(name, old);
        continue;
      }
      const limit = gradientLimit({ initialLimit: options.initialLimit, minLimit: options.minLimit, maxLimit: options.maxLimit });
      this.#limiters.set(name, { signature, policy: adaptiveConcurrency({ limit, partitions: criticalityPartitions(options.criticalShare), clock }) });
    }
  }

  /** Admits or throws; the returned function ends the request (`dropped`: it timed out or was refused upstream). */
  admit(cluster: string, criticality: Criticality): (dropped: boolean) => void {
    const policy = this.#limiters.get(cluster)?.policy;
    if (policy === undefined) return () => {};
    const permit: ConcurrencyPermit | undefined = policy.tryAcquire(criticality);
    if (permit === undefined) throw new GatewayError('KEEL_GW_OVERLOADED', `cluster ${cluster} is at its concurrency limit ${policy.limit}`);
    let released = false;
    return (dropped) => {
      if (released) return;
      released = true;
      policy.release(permit, dropped);
    };
  }

  /** For the admin endpoint. */
  toJSON(): Record<string, unknown> {
    return Object.fromEntries([...this.#limiters].map(([name, entry]) => [name, entry.policy.stats()]));
  }
}
