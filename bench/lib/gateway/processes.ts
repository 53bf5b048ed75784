/**
 * Child processes for the gateway benchmarks: a plain node backend, keel
 * gateway, nginx and HAProxy, each on loopback, each stopped by its own PID.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { backendSource, type BackendOptions } from '../../../src/experiment/backend.js';
import { ensureDebianBinary } from '../debian.js';
import { sleepMs } from '../net.js';

/** A certificate and its key (PEM files) a proxy serves when it terminates TLS. */
export interface ServerTlsFiles {
  readonly certFile: string;
  readonly keyFile: string;
}

export interface Started {
  readonly name: string;
  readonly port: number;
  readonly child: ChildProcess;
}

/** How long a process may take to open its port. */
const START_TIMEOUT_MS = 15_000;

async function waitForPort(port: number, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`process exited with ${child.exitCode} before opening port ${port}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => (socket.destroy(), resolve(true)));
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    await sleepMs(50);
  }
  throw new Error(`port ${port} did not open within ${START_TIMEOUT_MS} ms`);
}

/** Spawns `command` and resolves once `readyPort` (by default the port it serves, `port`) accepts a connection. */
export async function start(name: string, command: string, args: readonly string[], port: number, env: NodeJS.ProcessEnv = process.env, readyPort = port): Promise<Started> {
  const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'inherit'], env });
  // A spawn failure (ENOENT) is an 'error' event: unhandled, it would end this process and orphan the others.
  const failed = new Promise<never>((_, reject) => child.once('error', (error) => reject(new Error(`${name}: cannot start ${command}: ${error.message}`))));
  failed.catch(() => {});
  await Promise.race([waitForPort(readyPort, child), failed]);
  return { name, port, child };
}

export const NGINX_BINARY = '/usr/sbin/nginx';
export const HAPROXY_BINARY = '/usr/sbin/haproxy';

/** Installs nginx-light and haproxy where missing (as root); throws saying what to install otherwise. */
export function ensureProxies(log: (line: string) => void): void {
  for (const [binary, pkg] of [[NGINX_BINARY, 'nginx-light'], [HAPROXY_BINARY, 'haproxy']] as const) {
    if (!ensureDebianBinary(binary, pkg, log)) throw new Error(`${binary} is missing: apt-get install -y ${pkg}`);
  }
}

/** Stops by PID and waits for the exit. */
export async function stop(started: Started): Promise<void> {
  if (started.child.exitCode !== null || started.child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => started.child.once('exit', () => resolve()));
  process.kill(started.child.pid as number, 'SIGTERM');
  const timer = setTimeout(() => started.child.pid && started.child.exitCode === null && process.kill(started.child.pid, 'SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** The experiments' backend (src/experiment/backend.ts): a delay, a capacity with a FIFO queue, and control routes. */
export function startBackend(port: number, options: BackendOptions = {}): Promise<Started> {
  return start(`backend:${port}`, process.execPath, ['-e', backendSource(port, options)], port);
}

/**
 * keel gateway from the build (dist/, as `keel` ships): one process, or with `workers` > 1 a
 * primary and that many worker processes (`--workers N`, docs/gateway.md,
 * "Workers"). The first worker to listen opens `port` while the others may
 * still be starting, so with workers > 1 an admin block on `adminPort` is
 * added: the primary binds it only once every worker listens, and the start
 * waits for it. `nodeFlags` go to node before the script (`--cpu-prof`, bench/gateway-profile.ts).
 */
/** `build`: another build's root (a folder holding `dist/`, `package.json` and `node_modules`) to run instead of this checkout's. */
export function startKeelGateway(
  yamlText: string, port: number, { workers = 1, adminPort, nodeFlags = [], build }: { workers?: number; adminPort?: number; nodeFlags?: readonly string[]; build?: string } = {},
): Promise<Started> {
  if (workers > 1 && adminPort === undefined) throw new Error('startKeelGateway: workers > 1 needs an adminPort to wait on');
  const dir = tempDir('keel-gw-bench-');
  const file = join(dir, 'gateway.yaml');
  // A token keeps the primary from warning about an open admin port; nothing here calls it.
  writeFileSync(file, workers > 1 ? `${yamlText}\nadmin: { port: ${adminPort}, token: "keel-bench-${process.pid}" }\n` : yamlText);
  // The built CLI, as `keel` ships (package.json bin): under tsx every closure pays its __name helper and the load
  // is slower; the bench scripts build first (npm run bench:gateway*).
  const main = build === undefined ? new URL('../../../dist/src/cli/main.js', import.meta.url).pathname : join(build, 'dist/src/cli/main.js');
  if (!existsSync(main)) throw new Error(`${main} is missing: run npm run build first`);
  const args = [...nodeFlags, main, 'gateway', '--config', file, '--log-level', 'warn', ...(workers > 1 ? ['--workers', String(workers)] : [])];
  return start('keel', process.execPath, args, port, process.env, workers > 1 ? adminPort : port);
}

/**
 * The floor of any Node proxy: a bare L4 pipe (node:net, or node:tls with
 * `tls`) that joins each client connection to one backend connection (round
 * robin) and copies bytes both ways, parsing nothing. Its CPU per request is
 * what Node's sockets cost before any HTTP work, so a Node L7 proxy cannot go
 * below it.
 */
export function startNodePipe(port: number, backends: readonly number[], { tls }: { tls?: ServerTlsFiles } = {}): Promise<Started> {
  const source = `
const net = require('node:net');
const fs = require('node:fs');
const backends = ${JSON.stringify(backends)};
let next = 0;
const join = (client) => {
  const upstream = net.connect({ host: '127.0.0.1', port: backends[next++ % backends.length] });
  const close = () => { client.destroy(); upstream.destroy(); };
  client.on('error', close); upstream.on('error', close); client.on('close', close); upstream.on('close', close);
  client.pipe(upstream); upstream.pipe(client);
};
const server = ${tls ? `require('node:tls').createServer({ cert: fs.readFileSync(${JSON.stringify(tls.certFile)}), key: fs.readFileSync(${JSON.stringify(tls.keyFile)}) }, join)` : 'net.createServer(join)'};
server.listen(${port}, '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
`;
  return start('node-pipe', process.execPath, ['-e', source], port);
}

/**
 * nginx with `workers` worker processes (1 by default), upstream keep-alive (per worker), no access log (the Debian
 * package's binary).
 * `singleProcess`: one worker and no master, so the PID is the process that does the work (CPU read from /proc);
 * with `workers` > 1 there is always a master, and the work is spread over its children.
 * `tls`: the listener terminates TLS (`listen ... ssl`) with this certificate, TLS 1.2 and 1.3 as keel's listener
 * allows (Debian's nginx 1.22 leaves 1.3 out by default), nginx's default ciphers, and sets X-Forwarded-Proto as
 * keel's gateway does on a TLS listener.
 */
export function startNginx(port: number, backends: readonly number[], { singleProcess = false, workers = 1, tls }: { singleProcess?: boolean; workers?: number; tls?: ServerTlsFiles } = {}): Promise<Started> {
  if (singleProcess && workers > 1) throw new Error('startNginx: singleProcess runs one worker');
  const dir = tempDir('keel-nginx-bench-');
  writeFileSync(join(dir, 'nginx.conf'), `
worker_processes ${workers};${singleProcess ? '\nmaster_process off;' : ''}
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy; fastcgi_temp_path ${dir}/fcgi; uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
  upstream backends { ${backends.map((b) => `server 127.0.0.1:${b};`).join(' ')} keepalive 64; }
  server {
    listen 127.0.0.1:${port}${tls ? ` ssl;\n    ssl_protocols TLSv1.2 TLSv1.3;\n    ssl_certificate ${tls.certFile};\n    ssl_certificate_key ${tls.keyFile}` : ''};
    location / { proxy_pass http://backends; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;${tls ? ' proxy_set_header X-Forwarded-Proto $scheme;' : ''} proxy_next_upstream error timeout http_502 http_503 http_504; }
  }
}`);
  return start('nginx', NGINX_BINARY, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-g', 'daemon off;'], port);
}

/** HAProxy with `threads` threads (1 by default) in one process, keep-alive both sides, round robin, retries on connection failure; `tls`: `bind ... ssl crt` with this certificate. */
export function startHaproxy(port: number, backends: readonly number[], { threads = 1, tls }: { threads?: number; tls?: ServerTlsFiles } = {}): Promise<Started> {
  const dir = tempDir('keel-haproxy-bench-');
  const file = join(dir, 'haproxy.cfg');
  const pemFile = join(dir, 'server.pem');
  // HAProxy takes the certificate and its key in one file.
  if (tls) writeFileSync(pemFile, `${readFileSync(tls.certFile, 'utf8')}${readFileSync(tls.keyFile, 'utf8')}`, { mode: 0o600 });
  writeFileSync(file, `
global
  nbthread ${threads}
  maxconn 4000
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  option http-keep-alive
  option forwardfor
  retries 2
  option redispatch
frontend front
  bind 127.0.0.1:${port}${tls ? ` ssl crt ${pemFile}` : ''}
  default_backend backs
backend backs
  balance roundrobin
  http-reuse always
${backends.map((b, i) => `  server s${i} 127.0.0.1:${b}`).join('\n')}
`);
  return start('haproxy', HAPROXY_BINARY, ['-f', file, '-db'], port);
}
