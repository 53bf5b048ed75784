import { after, before } from 'node:test';
import { KeelClient, type KeelClientOptions } from '../../src/client/index.js';
import { Cluster } from '../node/cluster-harness.js';

/**
 * For a test file: a 3-member cluster of real processes and a client of
 * it, started before the file's tests (handed over through `onReady`) and
 * stopped after them. `endpointsOf` picks how the client names the members.
 */
export function useClusterAndClient(
  onReady: (cluster: Cluster, client: KeelClient) => void,
  endpointsOf: (cluster: Cluster) => string[] = (cluster) => cluster.members.map((m) => m.clientUrl),
  options: Omit<KeelClientOptions, 'endpoints'> = { timeoutMs: 5_000 },
): void {
  let cluster: Cluster | undefined;
  let client: KeelClient | undefined;
  before(async () => {
    cluster = await Cluster.start({ nodes: 3 });
    client = new KeelClient({ ...options, endpoints: endpointsOf(cluster) });
    onReady(cluster, client);
  });
  after(async () => {
    await client?.close();
    await cluster?.stop();
  });
}
