import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSecureContext, type ConnectionOptions, type SecureVersion, type TlsOptions } from 'node:tls';
import { NodeConfigError, TlsCertificateError, TlsFileError } from './errors.js';

/**
 * A member's TLS settings under etcd's flag names and meaning, and the
 * loading of their files into Node's TLS options with typed errors.
 *
 * As etcd's transport does, a trusted CA file alone turns on client
 * certificate verification (RequireAndVerifyClientCert), and so does
 * --client-cert-auth; without either, the port serves TLS to anyone.
 * Files are read anew by every load(), so a reload after rotation picks up
 * the new ones (SIGHUP in `keel node`).
 */
export interface TlsFileFlags {
  /** The flag names, for error messages (e.g. '--cert-file'). */
  readonly flagPrefix: '' | 'peer-';
  readonly certFile: string;
  readonly keyFile: string;
  readonly trustedCaFile?: string | undefined;
  readonly clientCertAuth: boolean;
}

export interface TlsCommon {
  /** Go cipher suite names as etcd takes them (TLS 1.2); empty: Node's defaults. */
  readonly cipherSuites: readonly string[];
  /** etcd's TLS1.2 or TLS1.3. */
  readonly minVersion: 'TLS1.2' | 'TLS1.3';
}

/** Go's names for the TLS 1.2 suites etcd accepts, and OpenSSL's. */
const GO_CIPHER_SUITES: Readonly<Record<string, string>> = {
  TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256: 'ECDHE-ECDSA-AES128-GCM-SHA256',
  TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256: 'ECDHE-RSA-AES128-GCM-SHA256',
  TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384: 'ECDHE-ECDSA-AES256-GCM-SHA384',
  TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384: 'ECDHE-RSA-AES256-GCM-SHA384',
  TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305: 'ECDHE-ECDSA-CHACHA20-POLY1305',
  TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-ECDSA-CHACHA20-POLY1305',
  TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305: 'ECDHE-RSA-CHACHA20-POLY1305',
  TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-RSA-CHACHA20-POLY1305',
  TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA: 'ECDHE-ECDSA-AES128-SHA',
  TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA: 'ECDHE-ECDSA-AES256-SHA',
  TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA: 'ECDHE-RSA-AES128-SHA',
  TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA: 'ECDHE-RSA-AES256-SHA',
  TLS_RSA_WITH_AES_128_GCM_SHA256: 'AES128-GCM-SHA256',
  TLS_RSA_WITH_AES_256_GCM_SHA384: 'AES256-GCM-SHA384',
  TLS_RSA_WITH_AES_128_CBC_SHA: 'AES128-SHA',
  TLS_RSA_WITH_AES_256_CBC_SHA: 'AES256-SHA',
};
/** Go does not let TLS 1.3 suites be configured, so etcd's list never removes them; neither does keel's. */
const TLS13_SUITES = ['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256'];

/** etcd's comma-separated --cipher-suites as an OpenSSL cipher string; throws NodeConfigError naming an unknown suite. */
export function opensslCiphers(cipherSuites: readonly string[]): string | undefined {
  if (cipherSuites.length === 0) return undefined;
  const names = cipherSuites.map((suite) => {
    const name = GO_CIPHER_SUITES[suite];
    if (name === undefined) throw new NodeConfigError(`--cipher-suites: unknown cipher suite ${suite} (use Go's names, e.g. TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256)`);
    return name;
  });
  return [...TLS13_SUITES, ...names].join(':');
}

function minVersionOf(minVersion: TlsCommon['minVersion']): SecureVersion {
  return minVersion === 'TLS1.3' ? 'TLSv1.3' : 'TLSv1.2';
}

function readFlagFile(flag: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'does not exist' : code === 'EACCES' ? 'is not readable (permission denied)' : `cannot be read (${code ?? (error as Error).message})`;
    throw new TlsFileError(`--${flag}: ${path} ${why}`);
  }
}

/** The PEM files, checked: the certificate parses, the key parses and belongs to it, the CA bundle parses. */
export interface TlsMaterial {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly ca: Buffer | undefined;
  /** The leaf certificate's serial number (hex), for logs after a reload. */
  readonly serial: string;
}

export function loadTlsMaterial(files: TlsFileFlags): TlsMaterial {
  const prefix = files.flagPrefix;
  const cert = readFlagFile(`${prefix}cert-file`, files.certFile);
  const key = readFlagFile(`${prefix}key-file`, files.keyFile);
  const ca = files.trustedCaFile === undefined ? undefined : readFlagFile(`${prefix}trusted-ca-file`, files.trustedCaFile);
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(cert);
  } catch {
    throw new TlsCertificateError(`--${prefix}cert-file: ${files.certFile} is not a PEM certificate`);
  }
  let privateKey;
  try {
    privateKey = createPrivateKey(key);
  } catch {
    throw new TlsCertificateError(`--${prefix}key-file: ${files.keyFile} is not an unencrypted PEM private key`);
  }
  if (!leaf.checkPrivateKey(privateKey)) throw new TlsCertificateError(`--${prefix}key-file: ${files.keyFile} is not the key of the certificate in ${files.certFile}`);
  if (ca !== undefined) {
    try {
      createSecureContext({ ca });
      new X509Certificate(ca);
    } catch {
      throw new TlsCertificateError(`--${prefix}trusted-ca-file: ${files.trustedCaFile} is not a PEM certificate bundle`);
    }
  }
  return { cert, key, ca, serial: leaf.serialNumber };
}

/** Whether the server side asks for and verifies client certificates (etcd: a trusted CA file or client-cert-auth). */
export function verifiesClients(files: TlsFileFlags): boolean {
  return files.clientCertAuth || files.trustedCaFile !== undefined;
}

/** Options for a TLS server from loaded material. rejectUnauthorized is the caller's: the peer listener checks by hand to log the refused name. */
export function serverOptions(material: TlsMaterial, files: TlsFileFlags, common: TlsCommon): TlsOptions {
  const ciphers = opensslCiphers(common.cipherSuites);
  return {
    cert: material.cert,
    key: material.key,
    ...(material.ca ? { ca: material.ca } : {}),
    ...(ciphers ? { ciphers } : {}),
    minVersion: minVersionOf(common.minVersion),
    requestCert: verifiesClients(files),
  };
}

/** Options for dialling a TLS server with this material as the client certificate. */
export function clientOptions(material: TlsMaterial, common: TlsCommon): ConnectionOptions {
  const ciphers = opensslCiphers(common.cipherSuites);
  return {
    cert: material.cert,
    key: material.key,
    ...(material.ca ? { ca: material.ca } : {}),
    ...(ciphers ? { ciphers } : {}),
    minVersion: minVersionOf(common.minVersion),
  };
}

/** The TLS part of a member's configuration (the fields of NodeConfig with etcd's names). */
export interface MemberTlsSettings {
  readonly certFile?: string | undefined;
  readonly keyFile?: string | undefined;
  readonly trustedCaFile?: string | undefined;
  readonly clientCertAuth: boolean;
  readonly peerCertFile?: string | undefined;
  readonly peerKeyFile?: string | undefined;
  readonly peerTrustedCaFile?: string | undefined;
  readonly peerClientCertAuth: boolean;
  readonly peerCertAllowedCn?: string | undefined;
  readonly cipherSuites: readonly string[];
  readonly tlsMinVersion: 'TLS1.2' | 'TLS1.3';
}

/** The client port's files, or undefined for cleartext. */
export function clientTlsFiles(settings: MemberTlsSettings): TlsFileFlags | undefined {
  if (settings.certFile === undefined || settings.keyFile === undefined) return undefined;
  return { flagPrefix: '', certFile: settings.certFile, keyFile: settings.keyFile, trustedCaFile: settings.trustedCaFile, clientCertAuth: settings.clientCertAuth };
}

/** The peer transport's files, or undefined for cleartext. */
export function peerTlsFiles(settings: MemberTlsSettings): TlsFileFlags | undefined {
  if (settings.peerCertFile === undefined || settings.peerKeyFile === undefined) return undefined;
  return { flagPrefix: 'peer-', certFile: settings.peerCertFile, keyFile: settings.peerKeyFile, trustedCaFile: settings.peerTrustedCaFile, clientCertAuth: settings.peerClientCertAuth };
}

export function tlsCommon(settings: MemberTlsSettings): TlsCommon {
  return { cipherSuites: settings.cipherSuites, minVersion: settings.tlsMinVersion };
}
