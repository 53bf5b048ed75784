/** Small loopback helpers shared by the etcd cluster launcher, bench/kv.ts and the client tests. */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { request } from 'undici';

/** Below this, ports are left to well-known services (etcd's 2379/2380, databases, ...). */
const PORT_POOL_LOW = 10_000;
/** Ports handed out by this process, never handed out twice (a child may not have bound its port yet). */
const handedOut = new Set<number>();

/**
 * The first port of the kernel's ephemeral range (net.ipv4.ip_local_port_range;
 * Linux's default is 32768). Outgoing connections take their local port from
 * that range, so a port picked there by binding port 0, released and passed to
 * a child process can be taken by any connect() before the child binds it: CI
 * saw a member fail with EADDRINUSE that way.
 */
function ephemeralLow(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > 0 ? low : 32_768;
  } catch {
    return 32_768;
  }
}

/** Resolves whether `port` can be bound on 127.0.0.1 right now (the probe is closed again). */
function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * Free TCP ports on 127.0.0.1 for other processes to listen on: distinct,
 * picked at random below the ephemeral range (so no outgoing connection takes
 * one meanwhile), each bound once to check it is free. Two test processes can
 * still pick the same port in the same instant; callers that start servers
 * retry on EADDRINUSE with fresh ports. Falls back to binding port 0 when the
 * ephemeral range starts too low to leave a pool.
 */
export async function freeLoopbackPorts(count: number): Promise<number[]> {
  const high = ephemeralLow() - 1;
  if (high - PORT_POOL_LOW < 1_000) return ephemeralPorts(count);
  if (handedOut.size > (high - PORT_POOL_LOW) / 4) handedOut.clear();
  const ports: number[] = [];
  for (let tries = 0; ports.length < count; tries++) {
    if (tries > count * 50) throw new Error(`no ${count} free ports in ${PORT_POOL_LOW}-${high}`);
    const port = PORT_POOL_LOW + Math.floor(Math.random() * (high - PORT_POOL_LOW + 1));
    if (handedOut.has(port) || !(await canBind(port))) continue;
    handedOut.add(port);
    ports.push(port);
  }
  return ports;
}

/** Ports found by binding port 0 (all held at once, so they are distinct). */
async function ephemeralPorts(count: number): Promise<number[]> {
  const servers = Array.from({ length: count }, () => createServer());
  try {
    return await Promise.all(
      servers.map(
        (server) =>
          new Promise<number>((resolve, reject) => {
            server.once('error', reject);
            server.listen(0, '127.0.0.1', () => {
              const address = server.address();
              if (address === null || typeof address === 'string') reject(new Error('no port'));
              else resolve(address.port);
            });
          }),
      ),
    );
  } finally {
    await Promise.all(servers.map((server) => new Promise((resolve) => server.close(() => resolve(undefined)))));
  }
}

export function sleepMs(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** One JSON POST without retries (undici's global dispatcher), bounded by `timeoutMs`; throws on a non-2xx status. */
export async function postJson(baseUrl: string, path: string, body: unknown, timeoutMs: number): Promise<unknown> {
  const response = await request(new URL(path, baseUrl), {
    method: 'POST',
    body: JSON.stringify(body),
    headers: { 'content-type': 'application/json' },
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await response.body.text();
  if (response.statusCode < 200 || response.statusCode >= 300) throw new Error(`${path}: HTTP ${response.statusCode} ${text}`);
  return JSON.parse(text) as unknown;
}

/** Bounds of a {@link drivePosts} phase. */
export interface DriveBounds {
  /** The phase stops starting requests at this `Date.now()`. */
  readonly deadlineMs: number;
  /** ... or once this many requests have failed. */
  readonly failuresMax: number;
  /** Each request's own timeout. */
  readonly requestTimeoutMs: number;
}

/**
 * Runs `count` JSON POSTs from `clients` concurrent loops (client i sends to
 * endpoint i mod n), bounded by `bounds`; returns the failures. `body(n)`
 * gives request n's path and payload.
 */
export async function drivePosts(endpoints: readonly string[], clients: number, count: number, body: (n: number) => [string, unknown], bounds: DriveBounds): Promise<number> {
  let next = 0;
  let failures = 0;
  await Promise.all(
    Array.from({ length: clients }, async (_, client) => {
      while (next < count && Date.now() < bounds.deadlineMs && failures < bounds.failuresMax) {
        const [path, payload] = body(next++);
        try {
          await postJson(endpoints[client % endpoints.length]!, path, payload, bounds.requestTimeoutMs);
        } catch {
          failures++;
        }
      }
    }),
  );
  return failures;
}

/**
 * A `keel up --base-port` whose whole layout (each member's client port and
 * the peer port above it, per keel up's plan) is free now. Up to 3 members,
 * base 1100..2700 keeps every port (base + 30001 at most) below the
 * ephemeral range, so no outgoing connection can take one before a member
 * binds it; larger layouts reach into that range and cannot avoid it. keel
 * up checks every port again before it starts anything and names a taken
 * one, so a rare collision fails clearly.
 */
export async function freeKeelUpBase(nodes: number): Promise<number> {
  const { planCluster } = await import('../../src/cli/up.js');
  for (let attempt = 0; attempt < 200; attempt++) {
    const base = nodes <= 3 ? 1_100 + Math.floor(Math.random() * 1_600) : 2_000 + Math.floor(Math.random() * 3_000);
    const ports = planCluster(nodes, base, '/unused').flatMap((plan) => [plan.clientPort, plan.peerPort]);
    if (ports.some((port) => handedOut.has(port))) continue;
    if (!(await Promise.all(ports.map(canBind))).every(Boolean)) continue;
    for (const port of ports) handedOut.add(port);
    return base;
  }
  throw new Error(`no free keel up layout for ${nodes} members`);
}
