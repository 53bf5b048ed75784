// The slow watcher's write load (experiments/slow-watcher.yaml): puts of
// 16 KiB values on 1,000 keys at 100 a second on the first member, about
// 2 MB a second of watch events for a watcher of the whole keyspace.
import { kvWorkload } from 'keel/load';

export const options = {
  scenarios: { writes: { executor: 'constant-arrival-rate', rate: 100, timeUnit: '1s', duration: '60s', preAllocatedVUs: 40, maxVUs: 100 } },
};

export default kvWorkload({ endpoint: process.env.KEEL_EXPERIMENT_TARGET, mix: { put: 1, get: 0 }, keys: 1000, valueBytes: 16384, distribution: 'uniform' });
