/**
 * TLS for https targets, k6's options: `insecureSkipTLSVerify`, `tlsAuth`
 * (client certificates, optionally per domain), `http2: false` (ALPN offers
 * only http/1.1), and keel's `tlsCa` (k6 has none: it trusts the system
 * roots, and tests against a private CA need one).
 *
 * The coordinator resolves the options once (`resolveTls`: files read,
 * PEM checked, so a bad file is bad input before anything starts) and ships
 * the PEM text in the job, so agents on other machines need no files. Each
 * worker builds one `TlsProfile` whose secure contexts every VU shares:
 * parsing the roots and a key per connection would cost milliseconds per VU.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { createSecureContext, rootCertificates, type SecureContext } from 'node:tls';
import { badInput } from './errors.js';
import { PEM_BYTES_MAX, TLS_AUTH_DOMAINS_MAX, TLS_AUTH_MAX } from './limits.js';
import type { Options } from './options.js';

/** A client certificate for targets in `domains` (every target when absent). */
export interface ClientCertificate {
  readonly certPem: string;
  readonly keyPem: string;
  readonly domains?: readonly string[];
}

/** The resolved TLS settings a job carries (PEM text, never paths). */
export interface TlsSettings {
  /** Offer h2 besides http/1.1 by ALPN (k6's default); false keeps HTTP/1.1. */
  readonly http2: boolean;
  /** Accept any server certificate (k6's insecureSkipTLSVerify). */
  readonly insecureSkipTLSVerify: boolean;
  /** CA certificates trusted besides the system roots. */
  readonly caPem?: string;
  readonly clientCertificates: readonly ClientCertificate[];
}

export const DEFAULT_TLS: TlsSettings = Object.freeze({ http2: true, insecureSkipTLSVerify: false, clientCertificates: [] });

/** What a connector passes to tls.connect for one host. */
export interface TlsConnectOptions {
  readonly allowH2: boolean;
  readonly rejectUnauthorized: boolean;
  readonly secureContext?: SecureContext;
}

/** One worker's TLS: secure contexts built once, on first use, shared by every VU. */
export class TlsProfile {
  readonly #settings: TlsSettings;
  /** Index 0 is the context without a client certificate; i + 1 is clientCertificates[i]'s. */
  readonly #contexts = new Map<number, SecureContext | undefined>();

  constructor(settings: TlsSettings = DEFAULT_TLS) {
    this.#settings = settings;
  }

  connectOptions(hostname: string): TlsConnectOptions {
    const { http2, insecureSkipTLSVerify } = this.#settings;
    const index = this.#settings.clientCertificates.findIndex((certificate) => certificate.domains === undefined || certificate.domains.some((domain) => domainMatches(domain, hostname)));
    const secureContext = this.#context(index + 1);
    return { allowH2: http2, rejectUnauthorized: !insecureSkipTLSVerify, ...(secureContext === undefined ? {} : { secureContext }) };
  }

  #context(key: number): SecureContext | undefined {
    if (!this.#contexts.has(key)) {
      const { caPem } = this.#settings;
      const certificate = key === 0 ? undefined : this.#settings.clientCertificates[key - 1];
      // Without a CA or a certificate, Node's default context (system roots) is the right one and costs nothing.
      const context =
        caPem === undefined && certificate === undefined
          ? undefined
          : createSecureContext({ ...(caPem === undefined ? {} : { ca: [...rootCertificates, caPem] }), ...(certificate === undefined ? {} : { cert: certificate.certPem, key: certificate.keyPem }) });
      this.#contexts.set(key, context);
    }
    return this.#contexts.get(key);
  }
}

/** `example.com` matches itself; `*.example.com` matches one label under it (as in a certificate's SAN). */
export function domainMatches(domain: string, hostname: string): boolean {
  const pattern = domain.toLowerCase();
  const host = hostname.toLowerCase().replace(/^\[|\]$/g, '');
  if (!pattern.startsWith('*.')) return pattern === host;
  const rest = host.slice(host.indexOf('.') + 1);
  return host.includes('.') && rest === pattern.slice(2);
}

/**
 * The options' TLS as a job carries it. `tlsCa` and `tlsAuth`'s `cert` and
 * `key` are PEM text or a file path (relative to the scenario's directory,
 * as k6's open() reads); each is checked here so a wrong file is named
 * before any VU starts.
 */
export function resolveTls(options: Options, scenarioDir: string): TlsSettings {
  const caPem = options.tlsCa === undefined ? undefined : certificatePem(options.tlsCa, scenarioDir, 'options.tlsCa');
  const clientCertificates = (options.tlsAuth ?? []).map((entry, index): ClientCertificate => {
    const field = `options.tlsAuth.${index}`;
    const certPem = certificatePem(entry.cert, scenarioDir, `${field}.cert`);
    const keyPem = pemOf(entry.key, scenarioDir, `${field}.key`);
    let matches: boolean;
    try {
      matches = new X509Certificate(certPem).checkPrivateKey(createPrivateKey(keyPem));
    } catch (error) {
      throw badInput(`${field}.key: not a PEM private key (${(error as Error).message})`);
    }
    if (!matches) throw badInput(`${field}.key: does not belong to ${field}.cert`);
    return { certPem, keyPem, ...(entry.domains === undefined ? {} : { domains: entry.domains }) };
  });
  return { http2: options.http2 !== false, insecureSkipTLSVerify: options.insecureSkipTLSVerify === true, ...(caPem === undefined ? {} : { caPem }), clientCertificates };
}

function certificatePem(value: string, scenarioDir: string, field: string): string {
  const pem = pemOf(value, scenarioDir, field);
  try {
    new X509Certificate(pem);
  } catch (error) {
    throw badInput(`${field}: not a PEM certificate (${(error as Error).message})`);
  }
  return pem;
}

/** PEM text as given, or the file it names. */
function pemOf(value: string, scenarioDir: string, field: string): string {
  if (value.includes('-----BEGIN ')) return value;
  const path = isAbsolute(value) ? value : resolve(scenarioDir, value);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw badInput(`${field}: neither PEM text nor a readable file: ${path} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  if (text.length > PEM_BYTES_MAX) throw badInput(`${field}: ${path} is larger than ${PEM_BYTES_MAX} bytes`);
  return text;
}

/** The agent protocol's check of a job's TLS (a coordinator on another machine sent it). */
export function isTlsSettings(value: unknown): value is TlsSettings {
  const tls = value as Partial<Record<keyof TlsSettings, unknown>> | null;
  if (typeof tls !== 'object' || tls === null) return false;
  if (typeof tls.http2 !== 'boolean' || typeof tls.insecureSkipTLSVerify !== 'boolean') return false;
  if (tls.caPem !== undefined && !isPem(tls.caPem)) return false;
  if (!Array.isArray(tls.clientCertificates) || tls.clientCertificates.length > TLS_AUTH_MAX) return false;
  return tls.clientCertificates.every((entry: Partial<Record<keyof ClientCertificate, unknown>> | null) => {
    if (typeof entry !== 'object' || entry === null || !isPem(entry.certPem) || !isPem(entry.keyPem)) return false;
    return entry.domains === undefined || (Array.isArray(entry.domains) && entry.domains.length <= TLS_AUTH_DOMAINS_MAX && entry.domains.every((domain) => typeof domain === 'string'));
  });
}

function isPem(value: unknown): value is string {
  return typeof value === 'string' && value.length <= PEM_BYTES_MAX;
}
