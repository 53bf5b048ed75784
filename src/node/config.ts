import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { NodeConfigError } from './errors.js';
import { autoCompactionPolicy } from './auto-compaction.js';

/**
 * A member's configuration, from flags, environment variables (KEEL_ID,
 * KEEL_DATA_DIR, ...) and an optional YAML file, in that order of
 * precedence, validated in one place with errors that name the field.
 */
const hostPort = z
  .string()
  .regex(/^[^\s:]+:\d{1,5}$/, 'must be host:port')
  .refine((value) => Number(value.split(':')[1]) <= 65535, 'port must be at most 65535');

const memberId = z.string().regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/, 'must be 1-63 letters, digits, _ . -');

export const nodeConfigSchema = z
  .object({
    id: memberId,
    dataDir: z.string().min(1),
    listenPeer: hostPort,
    listenClient: hostPort,
    /** Every founding member's peer address, this one included: id -> host:port. */
    peers: z.record(memberId, hostPort),
    /** Client URLs of the members (for not-leader hints), id -> http://host:port. Optional. */
    clientUrls: z.record(memberId, z.string().url()).default({}),
    zone: z.string().max(63).default(''),
    clusterName: z.string().min(1).max(63).default('keel'),
    /** Milliseconds per raft tick. */
    tickMs: z.number().int().min(1).max(10_000).default(25),
    /** Election timeout in ticks (randomized in [n, 2n)). */
    electionTicks: z.number().int().min(3).max(1000).default(12),
    heartbeatTicks: z.number().int().min(1).max(100).default(2),
    /** Applied entries between snapshots. */
    snapshotEntries: z.number().int().min(10).max(10_000_000).default(10_000),
    /** A snapshot also waits until the log since the last one is this many times that snapshot's size (0: entries alone); see snapshot-policy.ts. */
    snapshotLogRatio: z.number().min(0).max(100).default(0.25),
    /** Entries kept in the log behind a snapshot, so slightly slow followers catch up without one. */
    snapshotCatchUpEntries: z.number().int().min(0).max(10_000_000).default(5_000),
    /**
     * Bytes of applied log entries held in memory with their data; older ones
     * are read back from the WAL when a follower needs them (see
     * docs/persistence.md). 0: none held once applied.
     */
    logCacheBytes: z.number().int().min(0).max(64 * 1024 * 1024 * 1024).default(32 * 1024 * 1024),
    /** Preallocated size of each WAL segment. */
    walSegmentBytes: z.number().int().min(64 * 1024).max(1024 * 1024 * 1024).default(64 * 1024 * 1024),
    /** Space quota for the key-value state (etcd's --quota-backend-bytes). */
    quotaBytes: z.number().int().min(1024 * 1024).default(2 * 1024 * 1024 * 1024),
    /** Deadline for a request that names none. */
    requestTimeoutMs: z.number().int().min(10).max(600_000).default(5_000),
    /** Write and read requests waiting on raft at once before new ones are refused. */
    pendingRequestsMax: z.number().int().min(1).max(1_000_000).default(10_000),
    /** How often watchers that asked for progress notifications get one (etcd's --experimental-watch-progress-notify-interval, 10 min). */
    watchProgressNotifyIntervalMs: z.number().int().min(100).max(24 * 3600 * 1000).default(600_000),
    /**
     * On SIGTERM, how long the member keeps serving while /readyz answers 503
     * ("draining") before it closes its port, so load balancers that health
     * check it (keel's gateway, Kubernetes) route away first. A leader hands
     * off leadership at the start of the drain. 0 (etcd's behaviour): close at once.
     */
    shutdownDrainMs: z.number().int().min(0).max(300_000).default(0),
    logLevel: z.enum(['debug', 'info', 'warn', 'error', 'silent']).default('info'),
    /** etcd's --auto-compaction-mode: periodic (retention is a duration) or revision (retention is a count). */
    autoCompactionMode: z.enum(['periodic', 'revision']).default('periodic'),
    /** etcd's --auto-compaction-retention: "0" is off; periodic: "1h", "30m", or a number of hours; revision: a count. */
    autoCompactionRetention: z.union([z.string(), z.number().nonnegative()]).transform(String).default('0'),
    /** Revision mode: how often the leader checks (etcd: fixed 5 minutes). */
    autoCompactionRevisionCheckMs: z.number().int().min(10).max(86_400_000).default(300_000),
    /**
     * etcd's --initial-cluster-state. 'new': an empty data dir bootstraps a
     * cluster of `peers`. 'existing': an empty data dir joins a running
     * cluster (after MemberAdd) and waits for the leader's log; it never
     * bootstraps. Ignored once the data dir holds state.
     */
    initialClusterState: z.enum(['new', 'existing']).default('new'),
    /** etcd's --strict-reconfig-check: refuse membership changes that would leave too few started voters for a quorum. */
    strictReconfigCheck: z.boolean().default(true),
    /** etcd's --auth-token: "simple", or "jwt,pub-key=<file>,priv-key=<file>,sign-method=RS256|ES256|...,ttl=<duration>" (node/auth-tokens.ts). */
    authToken: z.string().min(1).max(4096).default('simple'),
    /** etcd's --auth-token-ttl: seconds a simple token lives after its last use (default 300). */
    authTokenTtl: z.number().int().min(1).max(86_400 * 365).default(300),
    /** etcd's --bcrypt-cost: the bcrypt cost members hash passwords with (4-31, default 10). */
    bcryptCost: z.number().int().min(4).max(31).default(10),
    /**
     * Failed Authenticate attempts allowed per user per minute (a token bucket
     * of this many, refilled over a minute); beyond, Authenticate is refused
     * before the password is hashed. 0: no limit. Successful attempts are free.
     */
    authFailedAttemptsPerUser: z.number().int().min(0).max(1_000_000).default(10),
    /** The same per client IP address, over every user name it tries. */
    authFailedAttemptsPerAddress: z.number().int().min(0).max(1_000_000).default(30),
    /** etcd's client TLS flags (see tls-material.ts): with certFile and keyFile the client port serves HTTPS and gRPC over TLS. */
    certFile: z.string().min(1).optional(),
    keyFile: z.string().min(1).optional(),
    trustedCaFile: z.string().min(1).optional(),
    clientCertAuth: z.boolean().default(false),
    /** etcd's peer TLS flags: with peerCertFile and peerKeyFile raft traffic runs over (mutual) TLS. */
    peerCertFile: z.string().min(1).optional(),
    peerKeyFile: z.string().min(1).optional(),
    peerTrustedCaFile: z.string().min(1).optional(),
    peerClientCertAuth: z.boolean().default(false),
    /** Only peers whose certificate's CommonName is this may connect (etcd's --peer-cert-allowed-cn). */
    peerCertAllowedCn: z.string().min(1).optional(),
    /** Go cipher suite names, as etcd's --cipher-suites (TLS 1.2 suites; TLS 1.3 ones stay on). */
    cipherSuites: z.array(z.string().min(1)).default([]),
    /** etcd's --tls-min-version. */
    tlsMinVersion: z.enum(['TLS1.2', 'TLS1.3']).default('TLS1.2'),
  })
  .strict()
  .superRefine((config, context) => {
    if (!(config.id in config.peers)) context.addIssue({ code: 'custom', path: ['peers'], message: `must include this member (${config.id})` });
    try {
      autoCompactionPolicy(config.autoCompactionMode, config.autoCompactionRetention, config.autoCompactionRevisionCheckMs);
    } catch (error) {
      context.addIssue({ code: 'custom', path: ['autoCompactionRetention'], message: (error as Error).message });
    }
    for (const [cert, key] of [['certFile', 'keyFile'], ['peerCertFile', 'peerKeyFile']] as const) {
      if ((config[cert] === undefined) !== (config[key] === undefined)) context.addIssue({ code: 'custom', path: [config[cert] === undefined ? cert : key], message: `${cert} and ${key} go together` });
    }
    if ((config.clientCertAuth || config.trustedCaFile !== undefined) && config.certFile === undefined) {
      context.addIssue({ code: 'custom', path: ['clientCertAuth'], message: 'client certificate checks need certFile and keyFile' });
    }
    if ((config.peerClientCertAuth || config.peerTrustedCaFile !== undefined || config.peerCertAllowedCn !== undefined) && config.peerCertFile === undefined) {
      context.addIssue({ code: 'custom', path: ['peerClientCertAuth'], message: 'peer certificate checks need peerCertFile and peerKeyFile' });
    }
    if (config.heartbeatTicks >= config.electionTicks) {
      context.addIssue({ code: 'custom', path: ['heartbeatTicks'], message: 'must be less than electionTicks' });
    }
  });

export type NodeConfig = z.infer<typeof nodeConfigSchema>;

/** "n1=127.0.0.1:2380,n2=..." -> { n1: "127.0.0.1:2380", ... } */
export function parseMemberList(text: string, field: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of text.split(',').map((p) => p.trim()).filter(Boolean)) {
    const at = part.indexOf('=');
    if (at <= 0) throw new NodeConfigError(`${field}: "${part}" is not id=address`);
    const id = part.slice(0, at);
    if (id in out) throw new NodeConfigError(`${field}: ${id} is listed twice`);
    out[id] = part.slice(at + 1);
  }
  return out;
}

const ENV: Record<string, keyof NodeConfig> = {
  KEEL_ID: 'id',
  KEEL_DATA_DIR: 'dataDir',
  KEEL_LISTEN_PEER: 'listenPeer',
  KEEL_LISTEN_CLIENT: 'listenClient',
  KEEL_PEERS: 'peers',
  KEEL_CLIENT_URLS: 'clientUrls',
  KEEL_ZONE: 'zone',
  KEEL_LOG_LEVEL: 'logLevel',
  KEEL_INITIAL_CLUSTER_STATE: 'initialClusterState',
};

const NUMERIC = new Set<string>(['walSegmentBytes', 'tickMs', 'electionTicks', 'heartbeatTicks', 'snapshotEntries', 'snapshotLogRatio', 'snapshotCatchUpEntries', 'logCacheBytes', 'quotaBytes', 'requestTimeoutMs', 'pendingRequestsMax', 'watchProgressNotifyIntervalMs', 'shutdownDrainMs', 'autoCompactionRevisionCheckMs', 'authTokenTtl', 'bcryptCost', 'authFailedAttemptsPerUser', 'authFailedAttemptsPerAddress']);

/** Merges file < environment < flags and validates the result. */
export function loadNodeConfig(
  flags: Record<string, unknown>,
  environment: NodeJS.ProcessEnv = process.env,
  readFile: (path: string) => string = (path) => readFileSync(path, 'utf8'),
): NodeConfig {
  let merged: Record<string, unknown> = {};
  const file = (flags.config as string | undefined) ?? environment.KEEL_CONFIG;
  if (file) {
    let parsed: unknown;
    try {
      parsed = parseYaml(readFile(file));
    } catch (error) {
      throw new NodeConfigError(`config file ${file}: ${(error as Error).message}`);
    }
    if (parsed !== null && (typeof parsed !== 'object' || Array.isArray(parsed))) throw new NodeConfigError(`config file ${file}: must be a mapping`);
    merged = { ...(parsed as Record<string, unknown> | null) };
  }
  for (const [variable, key] of Object.entries(ENV)) {
    const value = environment[variable];
    if (value !== undefined && value !== '') merged[key] = value;
  }
  for (const [key, value] of Object.entries(flags)) {
    if (key !== 'config' && value !== undefined) merged[key] = value;
  }
  for (const key of ['peers', 'clientUrls'] as const) {
    if (typeof merged[key] === 'string') merged[key] = parseMemberList(merged[key] as string, key);
  }
  for (const key of ['strictReconfigCheck', 'clientCertAuth', 'peerClientCertAuth'] as const) {
    if (typeof merged[key] === 'string') merged[key] = merged[key] !== 'false';
  }
  if (typeof merged.cipherSuites === 'string') merged.cipherSuites = merged.cipherSuites.split(',').map((suite) => suite.trim()).filter(Boolean);
  for (const key of NUMERIC) {
    if (typeof merged[key] === 'string' && /^\d+$/.test(merged[key] as string)) merged[key] = Number(merged[key]);
  }
  const result = nodeConfigSchema.safeParse(merged);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => `${issue.path.join('.') || 'config'}: ${issue.message}`);
    throw new NodeConfigError(`invalid configuration: ${problems.join('; ')}`);
  }
  return result.data;
}
