import type { BalancerName } from '../config.js';
import type { Balancer } from './balancer.js';
import { LeastRequestBalancer } from './least-request.js';
import { MaglevBalancer } from './maglev.js';
import { PeakEwmaBalancer } from './peak-ewma.js';
import { RandomBalancer } from './random.js';
import { RingHashBalancer } from './ring-hash.js';
import { RoundRobinBalancer } from './round-robin.js';

export type { Balancer, PickContext } from './balancer.js';
export { recordLatency } from './peak-ewma.js';

/** A fresh balancer of the named algorithm. */
export function createBalancer(name: BalancerName): Balancer {
  switch (name) {
    case 'round-robin': return new RoundRobinBalancer();
    case 'least-request': return new LeastRequestBalancer();
    case 'random': return new RandomBalancer();
    case 'ring-hash': return new RingHashBalancer();
    case 'maglev': return new MaglevBalancer();
    case 'peak-ewma': return new PeakEwmaBalancer();
  }
}
