import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { FaultProxy } from './proxy.js';
import { ToxicInputError } from './toxics.js';

/** The Toxiproxy version whose API this serves (what /version answers). */
export const TOXIPROXY_API_VERSION = '2.12.0';
const PROXIES_MAX = 256;
const BODY_BYTES_MAX = 65_536;

/**
 * A TCP fault proxy that serves Toxiproxy's HTTP API, so its clients (any
 * language) drive it unchanged: GET/POST /proxies, POST /populate,
 * GET/POST/DELETE /proxies/{name}, GET/POST /proxies/{name}/toxics,
 * GET/POST/DELETE /proxies/{name}/toxics/{toxic}, POST /reset, GET /version,
 * GET /metrics.
 * Errors are Toxiproxy's shape: `{"error": "...", "status": N}`. Needs no
 * privileges: it works anywhere a process can listen.
 */
export class ToxiproxyServer {
  readonly #proxies = new Map<string, FaultProxy>();
  readonly #random: () => number;
  #http: Server | undefined;

  constructor(options: { random?: () => number } = {}) {
    this.#random = options.random ?? Math.random;
  }

  /** Serves the API on host:port (port 0 picks one); resolves with the bound address. */
  async listen(port: number, host = '127.0.0.1'): Promise<AddressInfo> {
    const http = createServer((request, response) => void this.#handle(request, response));
    await new Promise<void>((resolve, reject) => {
      http.once('error', reject);
      http.listen(port, host, () => resolve());
    });
    this.#http = http;
    return http.address() as AddressInfo;
  }

  /** Stops the API and every proxy (their connections closed). */
  async close(): Promise<void> {
    for (const proxy of this.#proxies.values()) await proxy.stop();
    this.#proxies.clear();
    const http = this.#http;
    this.#http = undefined;
    if (http) {
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    }
  }

  async #handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    try {
      const body = await readBody(request);
      const result = await this.#route(request.method ?? 'GET', new URL(request.url ?? '/', 'http://x').pathname.split('/').filter(Boolean).map(decodeURIComponent), body);
      if (result.status === 204) {
        response.writeHead(204).end();
      } else if (typeof result.body === 'string') {
        response.writeHead(result.status, { 'content-type': 'text/plain' }).end(result.body);
      } else {
        response.writeHead(result.status, { 'content-type': 'application/json' }).end(JSON.stringify(result.body));
      }
    } catch (error) {
      const status = error instanceof ToxicInputError ? error.status : (error as NodeJS.ErrnoException).code === 'EADDRINUSE' ? 409 : 500;
      if (!response.headersSent) response.writeHead(status, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ error: (error as Error).message, status }));
    }
  }

  async #route(method: string, parts: string[], body: unknown): Promise<{ status: number; body?: unknown }> {
    const [first, name, third, toxicName] = parts;
    if (first === 'version' && parts.length === 1 && method === 'GET') return { status: 200, body: TOXIPROXY_API_VERSION };
    if (first === 'metrics' && parts.length === 1 && method === 'GET') return { status: 200, body: this.#metrics() };
    if (first === 'reset' && parts.length === 1 && method === 'POST') {
      for (const proxy of this.#proxies.values()) {
        proxy.removeAllToxics();
        await proxy.start();
      }
      return { status: 204 };
    }
    if (first === 'populate' && parts.length === 1 && method === 'POST') return { status: 201, body: { proxies: await this.#populate(body) } };
    if (first !== 'proxies') throw new ToxicInputError(`not found: ${method} /${parts.join('/')}`, 404);
    if (name === undefined) {
      if (method === 'GET') return { status: 200, body: Object.fromEntries([...this.#proxies].map(([key, proxy]) => [key, proxy.toJSON()])) };
      if (method === 'POST') return { status: 201, body: (await this.#create(body)).toJSON() };
      throw new ToxicInputError(`method ${method} not allowed on /proxies`, 405);
    }
    const proxy = this.#proxies.get(name);
    if (!proxy) throw new ToxicInputError(`proxy not found: ${name}`, 404);
    if (third === undefined) return this.#proxyRoute(method, proxy, body);
    if (third !== 'toxics') throw new ToxicInputError(`not found: /${parts.join('/')}`, 404);
    if (toxicName === undefined) {
      if (method === 'GET') return { status: 200, body: proxy.toxics };
      if (method === 'POST') return { status: 200, body: proxy.addToxic(body) };
      throw new ToxicInputError(`method ${method} not allowed on toxics`, 405);
    }
    if (method === 'GET') {
      const toxic = proxy.toxics.find((candidate) => candidate.name === toxicName);
      if (!toxic) throw new ToxicInputError(`toxic not found: ${toxicName}`, 404);
      return { status: 200, body: toxic };
    }
    if (method === 'POST') return { status: 200, body: proxy.updateToxic(toxicName, body) };
    if (method === 'DELETE') {
      proxy.removeToxic(toxicName);
      return { status: 204 };
    }
    throw new ToxicInputError(`method ${method} not allowed on a toxic`, 405);
  }

  async #proxyRoute(method: string, proxy: FaultProxy, body: unknown): Promise<{ status: number; body?: unknown }> {
    if (method === 'GET') return { status: 200, body: proxy.toJSON() };
    if (method === 'DELETE') {
      await proxy.stop();
      this.#proxies.delete(proxy.name);
      return { status: 204 };
    }
    if (method !== 'POST' && method !== 'PATCH') throw new ToxicInputError(`method ${method} not allowed on a proxy`, 405);
    const update = (body ?? {}) as { listen?: unknown; upstream?: unknown; enabled?: unknown };
    const relisten = (typeof update.listen === 'string' && update.listen !== proxy.listen) || (typeof update.upstream === 'string' && update.upstream !== proxy.upstream);
    if (relisten && proxy.enabled) await proxy.stop();
    if (typeof update.listen === 'string') proxy.listen = update.listen;
    if (typeof update.upstream === 'string') proxy.upstream = update.upstream;
    const enable = typeof update.enabled === 'boolean' ? update.enabled : relisten || proxy.enabled;
    if (enable) await proxy.start();
    else await proxy.stop();
    return { status: 200, body: proxy.toJSON() };
  }

  /**
   * Toxiproxy's proxy metrics in Prometheus' text format: bytes received
   * and sent per proxy and direction (upstream: client to server), labelled
   * as Toxiproxy labels them. Always on (Toxiproxy needs -proxy-metrics).
   */
  #metrics(): string {
    const lines: string[] = [];
    for (const [kind, help] of [['received', 'The total number of bytes received on a given proxy link in a given direction'], ['sent', 'The total number of bytes sent on a given proxy link in a given direction']] as const) {
      const name = `toxiproxy_proxy_${kind}_bytes_total`;
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} counter`);
      for (const proxy of this.#proxies.values()) {
        for (const direction of ['downstream', 'upstream'] as const) {
          const labels = `direction="${direction}",listener="${labelValue(proxy.listen)}",proxy="${labelValue(proxy.name)}",upstream="${labelValue(proxy.upstream)}"`;
          lines.push(`${name}{${labels}} ${proxy.bytes[kind][direction]}`);
        }
      }
    }
    return `${lines.join('\n')}\n`;
  }

  async #create(body: unknown): Promise<FaultProxy> {
    const input = (body ?? {}) as { name?: unknown; listen?: unknown; upstream?: unknown; enabled?: unknown };
    if (typeof input.name !== 'string' || !/^[A-Za-z0-9_.-]{1,64}$/.test(input.name)) throw new ToxicInputError('proxy: name must be 1-64 letters, digits, _ . -');
    if (this.#proxies.has(input.name)) throw new ToxicInputError(`proxy already exists: ${input.name}`, 409);
    if (this.#proxies.size >= PROXIES_MAX) throw new ToxicInputError(`at most ${PROXIES_MAX} proxies`);
    const proxy = new FaultProxy(input.name, typeof input.listen === 'string' ? input.listen : '127.0.0.1:0', input.upstream as string, this.#random);
    if (input.enabled !== false) await proxy.start();
    this.#proxies.set(proxy.name, proxy);
    return proxy;
  }

  async #populate(body: unknown): Promise<unknown[]> {
    if (!Array.isArray(body)) throw new ToxicInputError('populate: expected a JSON array of proxies');
    const created: unknown[] = [];
    for (const entry of body) {
      const existing = this.#proxies.get((entry as { name?: string }).name ?? '');
      if (existing) {
        await existing.stop();
        this.#proxies.delete(existing.name);
      }
      created.push((await this.#create(entry)).toJSON());
    }
    return created;
  }
}

/** A Prometheus label value: backslash, double quote and newline escaped. */
function labelValue(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

async function readBody(request: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > BODY_BYTES_MAX) throw new ToxicInputError(`request body over ${BODY_BYTES_MAX} bytes`, 413);
    chunks.push(chunk);
  }
  if (size === 0) return undefined;
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new ToxicInputError('request body is not JSON');
  }
}
