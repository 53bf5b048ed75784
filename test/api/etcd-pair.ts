import { EtcdCluster } from '../../bench/lib/etcd-cluster.js';
import { Cluster, type ClusterOptions } from '../node/cluster-harness.js';

/**
 * A keel cluster and (when `etcdPath` is set) an etcd cluster, started side
 * by side. If either fails to start, the other is stopped before the error
 * is thrown: a half-started pair would leave member processes behind.
 */
export async function startPair(etcdPath: string | undefined, options: ClusterOptions = { nodes: 3 }): Promise<[Cluster, EtcdCluster | undefined]> {
  const [keel, etcd] = await Promise.allSettled([Cluster.start(options), etcdPath ? EtcdCluster.start({ binary: etcdPath }) : Promise.resolve(undefined)]);
  if (keel.status === 'fulfilled' && etcd.status === 'fulfilled') return [keel.value, etcd.value];
  await Promise.all([keel.status === 'fulfilled' ? keel.value.stop() : undefined, etcd.status === 'fulfilled' ? etcd.value?.stop() : undefined]);
  throw keel.status === 'rejected' ? keel.reason : (etcd as PromiseRejectedResult).reason;
}
