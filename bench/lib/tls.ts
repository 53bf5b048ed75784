/**
 * The throwaway PKI a `--tls` benchmark run uses for every system it starts
 * (keel members, etcd members, keel gateway, nginx): one CA, one
 * certificate per member (serverAuth + clientAuth, SANs localhost and
 * 127.0.0.1, RSA 2048, made by src/cli/local-pki.ts as `keel up --tls` makes
 * them) and one client certificate. One CA for all, so both systems serve
 * the same kind of certificate and the bench's clients present the same one
 * to both; removed by `remove()`.
 */
import { readFileSync, rmSync } from 'node:fs';
import { type ConnectionOptions, connect } from 'node:tls';
import { Agent, setGlobalDispatcher } from 'undici';
import { type IssuedFiles, type LocalPki, writeLocalPki } from '../../src/cli/local-pki.js';
import { tempDir } from './gateway/processes.js';

/** The member ids `keel up` gives a 3-member cluster; etcd's member i uses member i's files too. */
export const BENCH_MEMBER_IDS = ['n1', 'n2', 'n3'] as const;

export interface BenchPki extends LocalPki {
  /** The directory holding every file (ca.crt, ca.key, n1.crt, ..., client.crt). */
  readonly dir: string;
  /** Member `index`'s certificate and key (index mod 3). */
  memberFiles(index: number): IssuedFiles;
  /** What a client presents: the CA to trust and the client certificate (mTLS). */
  readonly clientCredentials: { readonly ca: Buffer; readonly cert: Buffer; readonly key: Buffer };
  remove(): void;
}

export function makeBenchPki(): BenchPki {
  const dir = tempDir('keel-bench-tls-');
  const pki = writeLocalPki(dir, BENCH_MEMBER_IDS);
  return {
    ...pki,
    dir,
    memberFiles: (index) => pki.members[BENCH_MEMBER_IDS[index % BENCH_MEMBER_IDS.length]!]!,
    clientCredentials: { ca: readFileSync(pki.caFile), cert: readFileSync(pki.client.certFile), key: readFileSync(pki.client.keyFile) },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/**
 * Makes undici's global dispatcher (fetch, and bench/lib/net.ts's postJson
 * used by the readiness and leader probes) trust the run's CA and present
 * its client certificate. TLS options do not touch cleartext connections,
 * so the cleartext rows of the same run are unaffected.
 */
export function trustForRun(pki: BenchPki): void {
  setGlobalDispatcher(new Agent({ connect: { ...pki.clientCredentials } }));
}

/** How long the cipher probe may take. */
const PROBE_TIMEOUT_MS = 5_000;

/** The protocol and cipher a TLS endpoint negotiates with the bench's client ("TLSv1.3 TLS_AES_256_GCM_SHA384"), for the table's notes. */
export function negotiated(endpoint: string, options: ConnectionOptions, alpn: readonly string[] = ['http/1.1']): Promise<string> {
  const url = new URL(endpoint);
  return new Promise((resolve) => {
    const socket = connect({ ...options, host: url.hostname, port: Number(url.port), ALPNProtocols: [...alpn] });
    const timer = setTimeout(() => (socket.destroy(), resolve('unknown (probe timed out)')), PROBE_TIMEOUT_MS);
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      resolve(`${socket.getProtocol() ?? '?'} ${socket.getCipher().standardName}`);
      socket.destroy();
    });
    socket.once('error', (error) => (clearTimeout(timer), resolve(`unknown (${error.message})`)));
  });
}
