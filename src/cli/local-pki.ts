import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import forge from 'node-forge';

/**
 * A throwaway certificate authority and certificates for a local cluster
 * (`keel up --tls`, tests). Keys are RSA 2048 from node:crypto (native, a
 * few ms each); node-forge only builds and signs the X.509 structures, so
 * nothing shells out to openssl. Never for production: the CA key sits
 * next to the certificates.
 */

const DAY_MS = 24 * 3600 * 1000;

export interface IssuedFiles {
  readonly certFile: string;
  readonly keyFile: string;
}

export interface LocalPki {
  readonly caFile: string;
  /** Per member id: one certificate for both the client port and peers (serverAuth + clientAuth, SANs localhost and 127.0.0.1). */
  readonly members: Readonly<Record<string, IssuedFiles>>;
  /** A client certificate (CN given, default "root") for etcdctl and other clients. */
  readonly client: IssuedFiles;
}

interface Authority {
  readonly cert: forge.pki.Certificate;
  readonly key: forge.pki.rsa.PrivateKey;
}

function newKeyPair(): { publicKey: forge.pki.rsa.PublicKey; privateKey: forge.pki.rsa.PrivateKey; privatePem: string } {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048, publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } });
  return { publicKey: forge.pki.publicKeyFromPem(publicKey) as forge.pki.rsa.PublicKey, privateKey: forge.pki.privateKeyFromPem(privateKey) as forge.pki.rsa.PrivateKey, privatePem: privateKey };
}

function baseCertificate(publicKey: forge.pki.rsa.PublicKey, commonName: string, validDays: number): forge.pki.Certificate {
  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKey;
  // A positive 16-byte serial: rotation tests tell certificates apart by it.
  cert.serialNumber = '01' + randomBytes(15).toString('hex');
  cert.validity.notBefore = new Date(Date.now() - 60_000);
  cert.validity.notAfter = new Date(Date.now() + validDays * DAY_MS);
  cert.setSubject([{ name: 'commonName', value: commonName }, { name: 'organizationName', value: 'keel local' }]);
  return cert;
}

/** A self-signed CA. */
export function makeAuthority(commonName = 'keel local CA', validDays = 365): Authority & { certPem: string; keyPem: string } {
  const pair = newKeyPair();
  const cert = baseCertificate(pair.publicKey, commonName, validDays);
  cert.setIssuer(cert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(pair.privateKey, forge.md.sha256.create());
  return { cert, key: pair.privateKey, certPem: forge.pki.certificateToPem(cert), keyPem: pair.privatePem };
}

/** A leaf certificate signed by `authority`, usable as server and client; `hosts` become DNS or IP SANs. */
export function issueCertificate(authority: Authority, commonName: string, hosts: readonly string[], validDays = 365): { certPem: string; keyPem: string; serial: string } {
  const pair = newKeyPair();
  const cert = baseCertificate(pair.publicKey, commonName, validDays);
  cert.setIssuer(authority.cert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true, clientAuth: true },
    { name: 'subjectAltName', altNames: hosts.map((host) => (/^[\d.]+$|:/.test(host) ? { type: 7, ip: host } : { type: 2, value: host })) },
  ]);
  cert.sign(authority.key, forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem: pair.privatePem, serial: cert.serialNumber };
}

/** Writes a CA, one certificate per member and a client certificate under `dir` (mode 0600 for keys). */
export function writeLocalPki(dir: string, memberIds: readonly string[], clientCommonName = 'root', extraHosts: readonly string[] = []): LocalPki {
  const hosts = [...new Set(['localhost', '127.0.0.1', ...extraHosts])];
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const authority = makeAuthority();
  const caFile = join(dir, 'ca.crt');
  writeFileSync(caFile, authority.certPem);
  writeFileSync(join(dir, 'ca.key'), authority.keyPem, { mode: 0o600 });
  const write = (name: string, commonName: string): IssuedFiles => {
    const issued = issueCertificate(authority, commonName, hosts);
    const files = { certFile: join(dir, `${name}.crt`), keyFile: join(dir, `${name}.key`) };
    writeFileSync(files.certFile, issued.certPem);
    writeFileSync(files.keyFile, issued.keyPem, { mode: 0o600 });
    return files;
  };
  const members: Record<string, IssuedFiles> = {};
  for (const id of memberIds) members[id] = write(id, id);
  return { caFile, members, client: write('client', clientCommonName) };
}

/** The files writeLocalPki writes under `dir`, without writing them (for a restart that reuses them). */
export function localPkiFiles(dir: string, memberIds: readonly string[]): LocalPki {
  const files = (name: string): IssuedFiles => ({ certFile: join(dir, `${name}.crt`), keyFile: join(dir, `${name}.key`) });
  return { caFile: join(dir, 'ca.crt'), members: Object.fromEntries(memberIds.map((id) => [id, files(id)])), client: files('client') };
}

/**
 * `name`'s certificate under `dir` (CN `commonName`), issued by the CA
 * writeLocalPki left there when it is not there yet (e.g. a data dir from
 * before `name` existed); kept afterwards, like the others.
 */
export function ensureIssued(dir: string, name: string, commonName: string, hosts: readonly string[] = ['localhost', '127.0.0.1']): IssuedFiles {
  const files = { certFile: join(dir, `${name}.crt`), keyFile: join(dir, `${name}.key`) };
  if (existsSync(files.certFile) && existsSync(files.keyFile)) return files;
  const authority = { cert: forge.pki.certificateFromPem(readFileSync(join(dir, 'ca.crt'), 'utf8')), key: forge.pki.privateKeyFromPem(readFileSync(join(dir, 'ca.key'), 'utf8')) as forge.pki.rsa.PrivateKey };
  const issued = issueCertificate(authority, commonName, hosts);
  writeFileSync(files.certFile, issued.certPem);
  writeFileSync(files.keyFile, issued.keyPem, { mode: 0o600 });
  return files;
}
