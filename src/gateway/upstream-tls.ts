import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import type { ClusterConfig, GatewayConfig } from './config.js';
import { GatewayTlsError } from './errors.js';
import { TLS_FILE_BYTES_MAX } from './limits.js';

/**
 * TLS to a cluster's endpoints: the files named by `clusters.X.tls`, read
 * once per config load, as options for node:tls (the fast path),
 * undici's connector and node:http2 (h2c clusters, which swap the ALPN list
 * for h2). `id` is a digest of everything that shapes a
 * connection, so pools are keyed by it: a reload that rotates a CA or a
 * client certificate opens new connections and closes the old pools, while
 * one that changes nothing keeps its warm connections.
 */
export interface UpstreamTls {
  readonly id: string;
  readonly options: ConnectionOptions;
}

function readPem(file: string, field: string): Buffer {
  try {
    if (statSync(file).size > TLS_FILE_BYTES_MAX) throw new Error(`larger than ${TLS_FILE_BYTES_MAX} bytes`);
    return readFileSync(file);
  } catch (error) {
    throw new GatewayTlsError(field, `cannot read ${file}: ${(error as Error).message}`);
  }
}

/** Loads one cluster's upstream TLS; throws GatewayTlsError naming the field. */
export function loadUpstreamTls(tls: NonNullable<ClusterConfig['tls']>, at: string): UpstreamTls {
  const ca = tls.caFile === undefined ? undefined : readPem(tls.caFile, `${at}.caFile`);
  const cert = tls.certFile === undefined ? undefined : readPem(tls.certFile, `${at}.certFile`);
  const key = tls.keyFile === undefined ? undefined : readPem(tls.keyFile, `${at}.keyFile`);
  const options: ConnectionOptions = {
    ...(ca ? { ca } : {}),
    ...(cert ? { cert } : {}),
    ...(key ? { key } : {}),
    ...(tls.serverName ? { servername: tls.serverName } : {}),
    rejectUnauthorized: tls.verify,
    minVersion: tls.minVersion,
    ALPNProtocols: ['http/1.1'],
  };
  const hash = createHash('sha256');
  for (const part of [ca, cert, key]) hash.update(part ?? '').update('\0');
  hash.update(JSON.stringify([tls.serverName ?? '', tls.verify, tls.minVersion]));
  return { id: hash.digest('hex').slice(0, 16), options };
}

/** Every cluster's upstream TLS, by cluster name. */
export function loadUpstreamTlsAll(config: GatewayConfig): Map<string, UpstreamTls> {
  const out = new Map<string, UpstreamTls>();
  for (const [name, cluster] of Object.entries(config.clusters)) if (cluster.tls) out.set(name, loadUpstreamTls(cluster.tls, `clusters.${name}.tls`));
  return out;
}

/** The key a pool for `address` is filed under: the address, plus the TLS identity when there is one. */
export function poolAddress(address: string, tls: UpstreamTls | undefined): string {
  return tls === undefined ? address : `${address}#tls:${tls.id}`;
}
