import { Command } from 'commander';
import type { NodeConfig } from '../node/config.js';
import { listenClientPort } from '../api/client-port.js';
import type { ClientPort } from '../api/client-port.js';
import { loadNodeConfig } from '../node/config.js';
import { KeelNode } from '../node/keel-node.js';
import { createLogger, errorFields, parseLogFormat } from '../node/logger.js';
import type { LogFormat } from '../node/logger.js';
import { NodeError } from '../node/errors.js';
import { EXIT_PERMANENT } from './exit-codes.js';
import { clientTlsFiles, loadTlsMaterial, serverOptions, tlsCommon } from '../node/tls-material.js';
import type { TlsMaterial } from '../node/tls-material.js';
import { enableFailpointApi } from '../storage/index.js';

/** The options `keel node` parses, as commander hands them over (strings). */
export interface NodeFlags {
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
  snapshotLogRatio?: string;
  snapshotCatchUpEntries?: string;
  logCacheBytes?: string;
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
  shutdownDrainMs?: string;
  authToken?: string;
  authTokenTtl?: string;
  bcryptCost?: string;
  authFailedAttemptsPerUser?: string;
  authFailedAttemptsPerAddress?: string;
  certFile?: string;
  keyFile?: string;
  trustedCaFile?: string;
  clientCertAuth?: boolean;
  peerCertFile?: string;
  peerKeyFile?: string;
  peerTrustedCaFile?: string;
  peerClientCertAuth?: boolean;
  peerCertAllowedCn?: string;
  cipherSuites?: string;
  tlsMinVersion?: string;
  /** Serve POST /debug/failpoints (keel chaos failpoint); not a member setting, so not passed to the config. */
  enableFailpointApi?: boolean;
}


const PERMANENT_NODE_CODES: ReadonlySet<string> = new Set([
  'KEEL_NODE_CONFIG_INVALID',
  'KEEL_NODE_DATA_DIR_LOCKED',
  'KEEL_NODE_DATA_DIR_INVALID',
  'KEEL_NODE_DATA_DIR_MISMATCH',
  'KEEL_NODE_MEMBER_REMOVED',
  'KEEL_NODE_TLS_FILE',
  'KEEL_NODE_TLS_CERTIFICATE',
]);
const PERMANENT_SYSTEM_CODES: ReadonlySet<string> = new Set(['EADDRINUSE', 'EADDRNOTAVAIL', 'EACCES']);

function isPermanent(error: unknown): boolean {
  if (NodeError.is(error)) return PERMANENT_NODE_CODES.has(error.code);
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && PERMANENT_SYSTEM_CODES.has(code);
}

/** A start failure in a sentence: bind errors name the address and the fix instead of a raw errno. */
function startFailureMessage(error: unknown, address: string): string {
  const code = (error as { code?: unknown }).code;
  // The errno stays in the sentence: scripts and test harnesses look for it to retry on fresh ports.
  if (code === 'EADDRINUSE') return `${address} is already in use by another process (EADDRINUSE); stop it or choose another port`;
  if (code === 'EADDRNOTAVAIL') return `${address} is not an address of this host; listen on one of its addresses (or 0.0.0.0)`;
  if (code === 'EACCES') return `${address}: not allowed to bind this port (ports below 1024 need privileges); choose a port of 1024 or more`;
  return (error as Error).message;
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
    .option('--snapshot-log-ratio <x>', 'a snapshot also waits until the log since the last one is x times its size; 0: entries alone (default 0.25)')
    .option('--snapshot-catch-up-entries <n>', 'entries kept behind a snapshot for slow followers (default 5000)')
    .option('--log-cache-bytes <n>', 'bytes of applied log entries held in memory; older ones are read back from the WAL when needed (default 32 MiB)')
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
    .option('--shutdown-drain-ms <n>', 'on SIGTERM, keep serving this long with /readyz answering 503 (and leadership handed off) before closing, so health-checking load balancers route away first (default 0: close at once, as etcd)')
    .option('--auth-token <spec>', "etcd's token type: simple (default) or jwt,pub-key=<file>,priv-key=<file>,sign-method=RS256|ES256|...,ttl=5m")
    .option('--auth-token-ttl <seconds>', 'how long a simple token lives after its last use (default 300, as etcd)')
    .option('--bcrypt-cost <n>', 'bcrypt cost for password hashes, 4-31 (default 10, as etcd)')
    .option('--auth-failed-attempts-per-user <n>', 'failed Authenticate attempts allowed per user per minute, then "too many requests" (default 10; 0: no limit)')
    .option('--auth-failed-attempts-per-address <n>', 'failed Authenticate attempts allowed per client IP per minute (default 30; 0: no limit)')
    .option('--cert-file <file>', 'client TLS: the server certificate (PEM); with --key-file the client port serves gRPC over TLS and HTTPS')
    .option('--key-file <file>', 'client TLS: the certificate\'s private key (PEM)')
    .option('--trusted-ca-file <file>', 'client TLS: CA bundle that signs client certificates; setting it requires client certificates, as in etcd')
    .option('--client-cert-auth', 'client TLS: require a client certificate signed by a trusted CA')
    .option('--peer-cert-file <file>', 'peer TLS: this member\'s certificate, served to peers and presented when dialling them')
    .option('--peer-key-file <file>', 'peer TLS: its private key')
    .option('--peer-trusted-ca-file <file>', 'peer TLS: CA bundle peers\' certificates must chain to (requires peer certificates)')
    .option('--peer-client-cert-auth', 'peer TLS: require a trusted certificate from every peer that connects')
    .option('--peer-cert-allowed-cn <name>', 'peer TLS: only peers whose certificate CommonName is this may connect')
    .option('--cipher-suites <list>', 'comma-separated TLS 1.2 cipher suites by Go\'s names, as etcd (TLS 1.3 suites stay on); default Node\'s')
    .option('--tls-min-version <version>', 'TLS1.2 or TLS1.3 (default TLS1.2)')
    .option('--enable-failpoint-api', 'let POST /debug/failpoints on the client port set failpoints while running (fault injection; never in production)')
    .action(async (flags: NodeFlags) => {
      const { logFormat, ...rest } = flags;
      process.exitCode = await runNode(rest, logFormat ?? 'json');
    });
}

/**
 * The member's configuration from `keel node`'s parsed flags, the
 * environment (KEEL_*) and the --config file; throws NodeConfigError. Apart
 * from runNode so deployment files can be checked against it (test/deploy).
 */
export function nodeConfigFromFlags(flags: Omit<NodeFlags, 'logFormat'>, environment: NodeJS.ProcessEnv = process.env, readFile?: (path: string) => string): NodeConfig {
  const { quotaBackendBytes, ...rest } = flags;
  return loadNodeConfig({ ...rest, ...(quotaBackendBytes === undefined ? {} : { quotaBytes: quotaBackendBytes }) }, environment, readFile);
}

async function runNode({ enableFailpointApi: failpointApi, ...flags }: Omit<NodeFlags, 'logFormat'>, logFormat: LogFormat): Promise<number> {
  if (failpointApi) enableFailpointApi();
  let config;
  try {
    config = nodeConfigFromFlags(flags);
  } catch (error) {
    console.error(`keel node: ${(error as Error).message}`);
    return EXIT_PERMANENT;
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
    const message = startFailureMessage(error, config.listenPeer);
    log.error('could not start', { ...errorFields(error), error: message });
    console.error(`keel node: ${message}`);
    return isPermanent(error) ? EXIT_PERMANENT : 1;
  }
  const [host, port] = [config.listenClient.slice(0, config.listenClient.lastIndexOf(':')), Number(config.listenClient.slice(config.listenClient.lastIndexOf(':') + 1))];
  const clientFiles = clientTlsFiles(config);
  let clientMaterial: TlsMaterial | undefined;
  try {
    if (clientFiles) clientMaterial = loadTlsMaterial(clientFiles);
    const tls = clientFiles && clientMaterial ? { options: () => serverOptions(clientMaterial!, clientFiles, tlsCommon(config)) } : undefined;
    server = await listenClientPort(node, host, port, log, tls);
  } catch (error) {
    const message = startFailureMessage(error, config.listenClient);
    log.error('could not listen for clients', { address: config.listenClient, ...errorFields(error), error: message });
    console.error(`keel node: ${message}`);
    await node.stop();
    return isPermanent(error) ? EXIT_PERMANENT : 1;
  }
  log.info('serving clients', { address: config.listenClient, tls: clientFiles !== undefined });
  // SIGHUP re-reads every certificate file (rotation); a bad new file is logged and the old certificate stays in use.
  process.on('SIGHUP', () => {
    try {
      if (clientFiles) clientMaterial = loadTlsMaterial(clientFiles);
      server!.reloadTls();
      const peerSerial = node.reloadPeerTls();
      log.info('reloaded TLS certificates', { clientSerial: clientMaterial?.serial, peerSerial });
    } catch (error) {
      log.error('TLS reload failed; the previous certificates stay in use', errorFields(error));
    }
  });
  const shutdown = async (signal: string): Promise<void> => {
    if (exiting) return;
    exiting = true;
    if (config.shutdownDrainMs > 0 && signal === 'SIGTERM') {
      // Drain: readiness fails and leadership moves while every request is still served; new connections too.
      log.info('draining before stopping', { signal, drainMs: config.shutdownDrainMs });
      await node.drain(config.shutdownDrainMs);
    }
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
