import { connect, createServer, type Server, type Socket } from 'node:net';
import { Link, type ByteCounts } from './link.js';
import { ToxicInputError, toxicFrom, type Toxic } from './toxics.js';

/** Most connections one proxy holds; more are refused (closed at once). */
const CONNECTIONS_MAX = 1_024;
/** Most toxics on one proxy. */
const TOXICS_MAX = 32;

/** host:port split, refusing what is not one. */
export function parseAddress(text: unknown, what: string): { host: string; port: number } {
  if (typeof text !== 'string') throw new ToxicInputError(`proxy: ${what} must be host:port`);
  const index = text.lastIndexOf(':');
  const host = text.slice(0, index).replace(/^\[|\]$/g, '') || '127.0.0.1';
  const port = Number(text.slice(index + 1));
  if (index < 0 || !Number.isInteger(port) || port < 0 || port > 65_535) throw new ToxicInputError(`proxy: ${what} must be host:port, got ${JSON.stringify(text)}`);
  return { host: host === 'localhost' ? '127.0.0.1' : host, port };
}

/**
 * One Toxiproxy proxy: a TCP listener whose connections are piped to an
 * upstream address through the proxy's toxics. Disabling it closes the
 * listener and every connection, as Toxiproxy does.
 */
export class FaultProxy {
  readonly name: string;
  listen: string;
  upstream: string;
  enabled = false;
  #toxics: Toxic[] = [];
  #server: Server | undefined;
  readonly #links = new Set<Link>();
  readonly #random: () => number;
  /** Since the proxy was created, across its connections (GET /metrics). */
  readonly bytes: ByteCounts = { received: { upstream: 0, downstream: 0 }, sent: { upstream: 0, downstream: 0 } };

  constructor(name: string, listen: string, upstream: string, random: () => number) {
    this.name = name;
    this.listen = listen;
    this.upstream = upstream;
    this.#random = random;
    parseAddress(upstream, 'upstream');
  }

  toJSON(): Record<string, unknown> {
    return { name: this.name, listen: this.listen, upstream: this.upstream, enabled: this.enabled, toxics: this.#toxics };
  }

  get toxics(): readonly Toxic[] {
    return this.#toxics;
  }

  /** Binds the listener (port 0 picks one; `listen` then names the bound port). */
  async start(): Promise<void> {
    if (this.enabled) return;
    const { host, port } = parseAddress(this.listen, 'listen');
    const server = createServer((client) => this.#accept(client));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    const address = server.address();
    if (address && typeof address === 'object') this.listen = `${host}:${address.port}`;
    this.#server = server;
    this.enabled = true;
  }

  async stop(): Promise<void> {
    if (!this.enabled) return;
    this.enabled = false;
    const server = this.#server!;
    this.#server = undefined;
    for (const link of [...this.#links]) link.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  addToxic(body: unknown): Toxic {
    const toxic = toxicFrom(body);
    if (this.#toxics.some((existing) => existing.name === toxic.name)) throw new ToxicInputError(`toxic already exists: ${toxic.name}`, 409);
    if (this.#toxics.length >= TOXICS_MAX) throw new ToxicInputError(`a proxy holds at most ${TOXICS_MAX} toxics`);
    this.#toxics = [...this.#toxics, toxic];
    this.#changed();
    return toxic;
  }

  updateToxic(name: string, body: unknown): Toxic {
    const previous = this.#toxics.find((toxic) => toxic.name === name);
    if (!previous) throw new ToxicInputError(`toxic not found: ${name}`, 404);
    const toxic = toxicFrom({ ...(body as object), name, type: previous.type }, previous);
    this.#toxics = this.#toxics.map((existing) => (existing.name === name ? toxic : existing));
    this.#changed();
    return toxic;
  }

  removeToxic(name: string): void {
    if (!this.#toxics.some((toxic) => toxic.name === name)) throw new ToxicInputError(`toxic not found: ${name}`, 404);
    this.#toxics = this.#toxics.filter((toxic) => toxic.name !== name);
    this.#changed();
  }

  removeAllToxics(): void {
    this.#toxics = [];
    this.#changed();
  }

  #changed(): void {
    for (const link of this.#links) link.toxicsChanged();
  }

  #accept(client: Socket): void {
    if (this.#links.size >= CONNECTIONS_MAX) {
      client.destroy();
      return;
    }
    client.pause();
    const { host, port } = parseAddress(this.upstream, 'upstream');
    const upstream = connect({ host, port });
    upstream.pause();
    const link = new Link(client, upstream, () => this.#toxics, this.#random, () => this.#links.delete(link), this.bytes);
    this.#links.add(link);
    upstream.once('connect', () => {
      client.resume();
      upstream.resume();
    });
  }
}
