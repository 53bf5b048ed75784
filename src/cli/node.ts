import { Command } from 'commander';
import { listenClientPort } from '../api/client-port.js';
import type { ClientPort } from '../api/client-port.js';
import { loadNodeConfig } from '../node/config.js';
import { KeelNode } from '../node/keel-node.js';
import { createLogger, errorFields, parseLogFormat } from '../node/logger.js';
import type { LogFormat } from '../node/logger.js';
import { NodeError } from '../node/errors.js';

interface NodeFlags {
  config?: string;
  id?: string;
  dataDir?: string;
  listenPeer?: string;
  listenClient?: string;
  peers?: string;
  clientUrls?: string;
  zone?: string;
  tickMs?: string;
  electionTicks?: string;
  heartbeatTicks?: string;
  snapshotEntries?: string;
  snapshotCatchUpEntries?: string;
  walSegmentBytes?: string;
  logLevel?: string;
  logFormat?: LogFormat;
  quotaBackendBytes?: string;
  clusterName?: string;
  autoCompactionMode?: string;
  autoCompactionRetention?: string;
  autoCompactionRevisionCheckMs?: string;
  initialClusterState?: string;
  strictReconfigCheck?: string;
  watchProgressNotifyIntervalMs?: string;
}

/** `keel node`: one member of a cluster. */
export function nodeCommand(): Command {
  return new Command('node')
    .description('run one keel member (flags override KEEL_* environment variables, which override --config YAML)')
    .option('--config <file>', 'YAML file with any of the settings below (camelCase keys)')
    .option('--id <id>', 'this member\'s id, e.g. n1')
    .option('--data-dir <dir>', 'where the WAL and snapshots live')
    .option('--listen-peer <host:port>', 'address for raft traffic from peers')
    .option('--listen-client <host:port>', 'address for the client API (etcd gRPC and JSON gateway on one port, /metrics, /livez, /readyz)')
    .option('--peers <list>', 'founding members: n1=host:port,n2=host:port,... (peer addresses, this member included)')
    .option('--client-urls <list>', 'client URLs for not-leader hints: n1=http://host:port,...')
    .option('--zone <zone>', 'failure zone label')
    .option('--tick-ms <n>', 'milliseconds per raft tick (default 25)')
    .option('--election-ticks <n>', 'election timeout in ticks, randomized in [n, 2n) (default 12)')
    .option('--heartbeat-ticks <n>', 'heartbeat interval in ticks (default 2)')
    .option('--snapshot-entries <n>', 'applied entries between snapshots (default 10000)')
    .option('--snapshot-catch-up-entries <n>', 'entries kept behind a snapshot for slow followers (default 5000)')
    .option('--wal-segment-bytes <n>', 'preallocated WAL segment size (default 64 MiB)')
    .option('--log-level <level>', 'debug, info, warn, error or silent (default info)')
    .option('--log-format <format>', 'json (pino lines, ISO time) or pretty (readable lines) (default json)', parseLogFormat)
    .option('--cluster-name <name>', 'the cluster\'s name; with the founding members it fixes the cluster id (default keel; give a restored cluster a new one)')
    .option('--quota-backend-bytes <n>', 'space quota for the key-value state (default 2 GiB; every member must use the same)')
    .option('--auto-compaction-mode <mode>', 'periodic or revision (default periodic), as etcd')
    .option('--auto-compaction-retention <value>', 'periodic: a duration (1h, 30m) or hours; revision: revisions to keep; 0 = off (default)')
    .option('--auto-compaction-revision-check-ms <n>', 'revision mode: how often the leader checks (default 300000, etcd\'s fixed 5 minutes)')
    .option('--initial-cluster-state <state>', "'new' bootstraps a cluster of --peers on an empty data dir; 'existing' joins a running cluster after MemberAdd (default new)")
    .option('--strict-reconfig-check <bool>', 'refuse membership changes that would leave too few started voters (default true)')
    .option('--watch-progress-notify-interval-ms <n>', 'how often watchers that asked for progress notifications get one (default 600000, etcd\'s 10 minutes)')
    .action(async (flags: NodeFlags) => {
      const { quotaBackendBytes, logFormat, ...rest } = flags;
      process.exitCode = await runNode({ ...rest, ...(quotaBackendBytes === undefined ? {} : { quotaBytes: quotaBackendBytes }) }, logFormat ?? 'json');
    });
}

async function runNode(flags: Omit<NodeFlags, 'quotaBackendBytes' | 'logFormat'> & { quotaBytes?: string }, logFormat: LogFormat): Promise<number> {
  let config;
  try {
    config = loadNodeConfig({ ...flags });
  } catch (error) {
    console.error(`keel node: ${(error as Error).message}`);
    return 1;
  }
  const log = createLogger(config.logLevel, { member: config.id, zone: config.zone || undefined }, logFormat);
  let server: ClientPort | undefined;
  let exiting = false;
  const node = new KeelNode(config, log, (error) => {
    if (NodeError.is(error) && error.code === 'KEEL_NODE_MEMBER_REMOVED') {
      // Not a failure: the cluster removed this member (etcd exits too). In-flight answers go out first.
      log.warn('exiting: removed from the cluster', {});
      server?.close();
      void (server ? server.destroy() : Promise.resolve()).finally(() => process.exit(0));
      return;
    }
    log.error('exiting after a fatal error', errorFields(error));
    server?.close();
    process.exit(1);
  });
  try {
    await node.start();
  } catch (error) {
    log.error('could not start', errorFields(error));
    return 1;
  }
  const [host, port] = [config.listenClient.slice(0, config.listenClient.lastIndexOf(':')), Number(config.listenClient.slice(config.listenClient.lastIndexOf(':') + 1))];
  try {
    server = await listenClientPort(node, host, port);
  } catch (error) {
    log.error('could not listen for clients', { address: config.listenClient, ...errorFields(error) });
    await node.stop();
    return 1;
  }
  log.info('serving clients', { address: config.listenClient });
  const shutdown = async (signal: string): Promise<void> => {
    if (exiting) return;
    exiting = true;
    log.info('stopping', { signal });
    server!.close();
    await node.stop();
    await server!.destroy();
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
  return 0;
}
