import { readFileSync, statSync } from 'node:fs';
import type { Socket } from 'node:net';
import { createSecureContext, createServer as createTlsServer, type SecureContext, type SecureContextOptions, type Server as TlsServer, type TLSSocket } from 'node:tls';
import type { ListenerConfig, ListenerTlsConfig } from './config.js';
import { GatewayTlsError } from './errors.js';
import { TLS_FILE_BYTES_MAX } from './limits.js';

/**
 * TLS termination for a listener: certificates loaded from PEM files into
 * secure contexts, one picked per connection by SNI (exact name, then a
 * one-label wildcard, else the default), and the ALPN list the listener's
 * protocol allows. `update` swaps the certificates of a bound listener (a
 * reload re-reads every file, so rotating a certificate is: replace the
 * files, SIGHUP).
 */

/** Certificates loaded and indexed by server name. */
export interface TlsMaterial {
  readonly defaultOptions: SecureContextOptions;
  readonly byName: ReadonlyMap<string, SecureContext>;
  /** `*.example.com` is stored under `example.com`. */
  readonly byWildcard: ReadonlyMap<string, SecureContext>;
}

function readPem(file: string, field: string): Buffer {
  try {
    if (statSync(file).size > TLS_FILE_BYTES_MAX) throw new Error(`larger than ${TLS_FILE_BYTES_MAX} bytes`);
    return readFileSync(file);
  } catch (error) {
    throw new GatewayTlsError(field, `cannot read ${file}: ${(error as Error).message}`);
  }
}

/** Reads every certificate and key of `tls` (field names in errors start with `at`); throws GatewayTlsError. */
export function loadTlsMaterial(tls: ListenerTlsConfig, at: string): TlsMaterial {
  const byName = new Map<string, SecureContext>();
  const byWildcard = new Map<string, SecureContext>();
  let defaultOptions: SecureContextOptions | undefined;
  let firstOptions: SecureContextOptions | undefined;
  for (const [index, certificate] of tls.certificates.entries()) {
    const field = `${at}.certificates.${index}`;
    const options: SecureContextOptions = {
      cert: readPem(certificate.certFile, `${field}.certFile`),
      key: readPem(certificate.keyFile, `${field}.keyFile`),
      minVersion: tls.minVersion,
    };
    let context: SecureContext;
    try {
      context = createSecureContext(options);
    } catch (error) {
      // OpenSSL's message names the problem (no start line, key values mismatch), never the key's bytes.
      throw new GatewayTlsError(field, `cannot load ${certificate.certFile} with ${certificate.keyFile}: ${(error as Error).message}`);
    }
    if (certificate.serverNames.length === 0) defaultOptions ??= options;
    for (const name of certificate.serverNames) {
      const target = name.startsWith('*.') ? byWildcard : byName;
      const key = name.startsWith('*.') ? name.slice(2) : name;
      if (!target.has(key)) target.set(key, context);
    }
    firstOptions ??= options;
  }
  return { defaultOptions: defaultOptions ?? firstOptions!, byName, byWildcard };
}

/** The context for a client's SNI name, or undefined for the default certificate. */
export function contextFor(material: TlsMaterial, serverName: string): SecureContext | undefined {
  const name = serverName.toLowerCase();
  const exact = material.byName.get(name);
  if (exact !== undefined) return exact;
  const dot = name.indexOf('.');
  return dot === -1 ? undefined : material.byWildcard.get(name.slice(dot + 1));
}

/** ALPN protocols a listener offers, by its protocol. */
export function alpnFor(protocol: ListenerConfig['protocol']): string[] {
  switch (protocol) {
    case 'auto': return ['h2', 'http/1.1'];
    case 'http1': return ['http/1.1'];
    case 'h2c': return ['h2'];
  }
}

export interface TlsListenerServer {
  readonly server: TlsServer;
  /** Swaps in freshly loaded certificates; connections already open keep theirs. */
  update(material: TlsMaterial): void;
}

/**
 * A TLS server that admits each TCP connection before its handshake (so the
 * per-client limits count handshaking connections too) and hands each
 * finished handshake to `onSecure`. A failed handshake ends only that
 * connection; it is counted through `onHandshakeError`.
 */
export function tlsListenerServer(
  spec: ListenerConfig & { tls: ListenerTlsConfig },
  material: TlsMaterial,
  handshakeTimeoutMs: number,
  admit: (socket: Socket) => boolean,
  onSecure: (socket: TLSSocket) => void,
  onHandshakeError: () => void,
): TlsListenerServer {
  let current = material;
  const server = createTlsServer({
    ...current.defaultOptions,
    ALPNProtocols: alpnFor(spec.protocol),
    SNICallback: (serverName, callback) => callback(null, contextFor(current, serverName)),
    handshakeTimeout: handshakeTimeoutMs,
    allowHalfOpen: true,
  });
  server.on('connection', (socket: Socket) => admit(socket));
  server.on('secureConnection', (socket: TLSSocket) => {
    // What the fast path and node:http would see on a TCP socket.
    socket.on('error', () => socket.destroy());
    onSecure(socket);
  });
  server.on('tlsClientError', (_error, socket) => {
    onHandshakeError();
    socket.destroy();
  });
  return {
    server,
    update: (next) => {
      current = next;
      server.setSecureContext(next.defaultOptions);
    },
  };
}
