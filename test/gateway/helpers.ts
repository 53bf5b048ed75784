import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent, request } from 'undici';
import { seededRandom } from '../../src/resilience/index.js';
import { Gateway } from '../../src/gateway/gateway.js';
import { parseGatewayConfig } from '../../src/gateway/config.js';

export interface Backend {
  readonly name: string;
  readonly port: number;
  readonly address: string;
  hits: number;
  readonly server: Server;
  close(): Promise<void>;
}

export type BackendHandler = (request: IncomingMessage, response: ServerResponse, backend: Backend) => void;

/** Answers 200 with its name in `x-backend` and the body `name`. */
export const nameHandler: BackendHandler = (request, response, backend) => {
  request.resume();
  request.on('end', () => {
    response.writeHead(200, { 'x-backend': backend.name, 'content-type': 'text/plain' });
    response.end(backend.name);
  });
};

/** A small HTTP backend on loopback, port chosen by the OS. */
export async function startBackend(name: string, handler: BackendHandler = nameHandler): Promise<Backend> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const backend: Backend = {
    name, port, address: `127.0.0.1:${port}`, hits: 0, server,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  server.on('request', (req, res) => {
    backend.hits++;
    handler(req, res, backend);
  });
  return backend;
}

/** A gateway on an OS-chosen port with an admin port, seeded randomness, from a plain config object. */
export async function startGateway(config: Record<string, unknown>, seed = 1): Promise<Gateway> {
  const parsed = parseGatewayConfig({ listeners: [{ port: 0 }], admin: { port: 0 }, ...config });
  return Gateway.start({ config: parsed, random: seededRandom(seed) });
}

export interface Reply {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

/** One request through `agent`, the body read whole. */
export async function call(agent: Agent, port: number, path = '/', options: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Reply> {
  const response = await request(`http://127.0.0.1:${port}${path}`, {
    dispatcher: agent, method: (options.method ?? 'GET') as 'GET', headers: options.headers, body: options.body,
  });
  return { status: response.statusCode, headers: response.headers, body: await response.body.text() };
}

/** Runs `total` requests, `concurrency` at a time (bounded in count). */
export async function load(total: number, concurrency: number, one: (index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: concurrency }, async () => {
    while (next < total) await one(next++);
  });
  await Promise.all(workers);
}

export function simpleConfig(addresses: readonly string[], cluster: Record<string, unknown> = {}, route: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    routes: [{ name: 'all', match: { prefix: '/' }, cluster: 'app', ...route }],
    clusters: { app: { endpoints: addresses.map((address) => ({ address })), ...cluster } },
  };
}

/** Closes clients, then gateways, then backends (in that order, so nothing sees a reset it did not ask for). */
export async function closeAll(...things: Array<{ close(): Promise<void> } | readonly { close(): Promise<void> }[]>): Promise<void> {
  for (const thing of things.flat()) await thing.close();
}
