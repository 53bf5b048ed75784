/**
 * The hook bench/kv.ts uses to start a 3-node `keel up` cluster. Until the
 * node process lands (issue 3), it throws; bench an already running cluster
 * with `--keel-endpoints http://127.0.0.1:2379,...` instead.
 */

export interface KeelCluster {
  /** The members' client URLs (JSON gateway). */
  readonly endpoints: readonly string[];
  /** Stops every process the hook started (by pid) and removes their data. */
  stop(): Promise<void>;
}

export interface KeelClusterOptions {
  /** Members (default 3). */
  readonly size?: number;
  /** fsync every WAL batch (the benchmark always asks for true). */
  readonly fsync: boolean;
}

export async function startKeelCluster(_options: KeelClusterOptions): Promise<KeelCluster> {
  throw new Error('keel up not available yet: pass --keel-endpoints to bench a running keel cluster');
}
