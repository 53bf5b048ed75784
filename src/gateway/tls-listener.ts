import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import type { Socket } from 'node:net';
import { createSecureContext, createServer as createTlsServer, type SecureContext, type SecureContextOptions, type Server as TlsServer, type TLSSocket } from 'node:tls';
import type { ClientCertificateConfig, ListenerConfig, ListenerTlsConfig } from './config.js';
import { GatewayTlsError } from './errors.js';
import { TLS_FILE_BYTES_MAX } from './limits.js';

/**
 * TLS termination for a listener: certificates loaded from PEM files into
 * secure contexts, one picked per connection by SNI (exact name, then a
 * one-label wildcard, else the default), and the ALPN list the listener's
 * protocol allows. `update` swaps the certificates of a bound listener (a
 * reload re-reads every file, so rotating a certificate is: replace the
 * files, SIGHUP). With `clientCertificate`, clients are asked for a
 * certificate verified against its CA (in every context, as an SNI switch
 * replaces the context whose store verifies the client), and a verified
 * client's identity is put on its socket for `x-forwarded-client-cert`.
 */

/** Certificates loaded and indexed by server name. */
export interface TlsMaterial {
  readonly defaultOptions: SecureContextOptions;
  readonly byName: ReadonlyMap<string, SecureContext>;
  /** `*.example.com` is stored under `example.com`. */
  readonly byWildcard: ReadonlyMap<string, SecureContext>;
  /** Whether clients are asked for a certificate, and must present one the CA trusts. */
  readonly clientCertificate: Pick<ClientCertificateConfig, 'required'> | undefined;
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
  const clientCa = loadClientCa(tls.clientCertificate, `${at}.clientCertificate.caFile`);
  for (const [index, certificate] of tls.certificates.entries()) {
    const field = `${at}.certificates.${index}`;
    const options: SecureContextOptions = {
      cert: readPem(certificate.certFile, `${field}.certFile`),
      key: readPem(certificate.keyFile, `${field}.keyFile`),
      minVersion: tls.minVersion,
      ...(clientCa === undefined ? {} : { ca: clientCa }),
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
  return { defaultOptions: defaultOptions ?? firstOptions!, byName, byWildcard, clientCertificate: tls.clientCertificate && { required: tls.clientCertificate.required } };
}

/** The client CA bundle, checked to hold at least one certificate node:tls accepts as a trust root. */
function loadClientCa(config: ClientCertificateConfig | undefined, field: string): Buffer | undefined {
  if (config === undefined) return undefined;
  const ca = readPem(config.caFile, field);
  if (!ca.includes('-----BEGIN CERTIFICATE-----')) throw new GatewayTlsError(field, `${config.caFile} holds no PEM certificate`);
  try {
    createSecureContext({ ca });
  } catch (error) {
    throw new GatewayTlsError(field, `cannot load ${config.caFile}: ${(error as Error).message}`);
  }
  return ca;
}

/** Where a verified client's identity is kept on its TLSSocket (HTTP/2's compat socket proxies symbol reads to it). */
const CLIENT_CERT = Symbol('keel.gateway.forwardedClientCert');

/**
 * Envoy's `x-forwarded-client-cert` element for a verified client:
 * `Hash=<hex SHA-256 of the DER>;Subject="<RFC 2253 DN>"`. Node prints the
 * subject one attribute a line, RFC 2253-escaped, in certificate order;
 * RFC 2253 lists them most specific first. A `"` is already escaped as `\"`;
 * anything outside printable ASCII becomes RFC 2253 `\XX` escapes of its
 * UTF-8 bytes, so the value is a valid header whatever the CA signed (the
 * fast path writes heads as latin1: a raw U+010A would become a line feed).
 */
export function forwardedClientCertValue(der: Buffer, subjectLines: string): string {
  const subject = subjectLines.split('\n').filter((line) => line !== '').reverse().join(',');
  return `Hash=${createHash('sha256').update(der).digest('hex')};Subject="${printableAscii(subject)}"`;
}

function printableAscii(text: string): string {
  return text.replace(/[^\x20-\x7e]/gu, (char) => [...Buffer.from(char, 'utf8')].map((byte) => `\\${byte.toString(16).toUpperCase().padStart(2, '0')}`).join(''));
}

/** The `x-forwarded-client-cert` value for a request's socket: set only for clients whose certificate was verified. */
export function forwardedClientCert(socket: unknown): string | undefined {
  const value = (socket as Record<symbol, unknown> | null)?.[CLIENT_CERT];
  return typeof value === 'string' ? value : undefined;
}

/** Records a verified client's identity on its socket; unverified (optional mode) or certificate-less clients get none. */
function recordClientIdentity(socket: TLSSocket): void {
  if (!socket.authorized) return;
  const certificate = socket.getPeerX509Certificate();
  if (certificate === undefined) return;
  (socket as unknown as Record<symbol, unknown>)[CLIENT_CERT] = forwardedClientCertValue(certificate.raw, certificate.subject);
}

/** Why a handshake failed, as a bounded metric label. */
export type HandshakeFailure = 'client_certificate' | 'timeout' | 'other';

function handshakeFailure(error: Error & { code?: string }, socket: TLSSocket): HandshakeFailure {
  // An untrusted certificate: node verifies after the handshake and destroys the socket, leaving authorizationError set.
  if (error.code === 'ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE' || socket.authorizationError) return 'client_certificate';
  return error.code === 'ERR_TLS_HANDSHAKE_TIMEOUT' ? 'timeout' : 'other';
}

/** node:tls's server options for asking clients for certificates (mutable on a bound tls.Server: read per connection). */
function clientCertificateOptions(material: TlsMaterial): { requestCert: boolean; rejectUnauthorized: boolean } {
  return { requestCert: material.clientCertificate !== undefined, rejectUnauthorized: material.clientCertificate?.required ?? false };
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
  onHandshakeError: (reason: HandshakeFailure) => void,
): TlsListenerServer {
  let current = material;
  const server = createTlsServer({
    ...current.defaultOptions,
    ...clientCertificateOptions(current),
    ALPNProtocols: alpnFor(spec.protocol),
    SNICallback: (serverName, callback) => callback(null, contextFor(current, serverName)),
    handshakeTimeout: handshakeTimeoutMs,
    allowHalfOpen: true,
  });
  server.on('connection', (socket: Socket) => admit(socket));
  server.on('secureConnection', (socket: TLSSocket) => {
    // What the fast path and node:http would see on a TCP socket.
    socket.on('error', () => socket.destroy());
    recordClientIdentity(socket);
    onSecure(socket);
  });
  server.on('tlsClientError', (error, socket) => {
    onHandshakeError(handshakeFailure(error, socket));
    socket.destroy();
  });
  return {
    server,
    update: (next) => {
      current = next;
      server.setSecureContext(next.defaultOptions);
      // tls.Server hands these two to each new TLSSocket; connections already open keep what they were given.
      Object.assign(server, clientCertificateOptions(next));
    },
  };
}
