/**
 * Distributed load: `keel load agent --listen host:port` runs a worker
 * session for a coordinator that connects over TCP (`keel load --agents
 * a:port,b:port`), speaking the same messages as forked workers in
 * length-prefixed JSON frames (frames.ts). The coordinator ships the
 * scenario's source with the job (single-file scenarios), the start instant
 * is agreed in wall-clock time (agents' clocks must be NTP-synced), and an
 * agent whose connection drops is reported lost rather than waited for.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { LoadError } from './errors.js';
import { encodeFrame, FrameDecoder } from './frames.js';
import type { WorkerLink } from './links.js';
import { isFromWorker, isToWorker, type FromWorker, type Job, type ToWorker } from './messages.js';
import { WorkerSession } from './session.js';

/** A scenario's source as the coordinator sends it. */
interface ShippedJob extends Job {
  readonly scenarioSource?: { readonly fileName: string; readonly text: string };
}

const CONNECT_TIMEOUT_MS = 10_000;

/** Parses host:port (IPv6 in brackets). */
export function parseAddress(address: string): { host: string; port: number } {
  const match = /^\[?([^\]]+?)\]?:(\d{1,5})$/.exec(address.trim());
  const port = Number(match?.[2]);
  if (match === null || port < 1 || port > 65_535) throw new LoadError('KEEL_LOAD_BAD_INPUT', `'${address}' is not host:port`);
  return { host: match[1]!, port };
}

/** Serves coordinators, one session per connection. Resolves once listening. */
export async function startAgent(listen: string, log: (line: string) => void = () => undefined): Promise<Server> {
  const { host, port } = parseAddress(listen);
  const server = createServer((socket) => serveConnection(socket, log));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  log(`keel load agent listening on ${host}:${port}`);
  return server;
}

function serveConnection(socket: Socket, log: (line: string) => void): void {
  const peer = `${socket.remoteAddress}:${socket.remotePort}`;
  const decoder = new FrameDecoder();
  let scenarioDir: string | undefined;
  const send = (message: FromWorker): void => {
    if (!socket.destroyed) socket.write(encodeFrame(message));
  };
  const session = new WorkerSession(send);
  const fail = (message: string): void => {
    log(`${peer}: ${message}`);
    send({ type: 'failed', code: 'KEEL_LOAD_PROTOCOL', message });
    session.handle({ type: 'stop' });
    socket.end();
  };
  socket.on('data', (chunk) => {
    let messages: unknown[];
    try {
      messages = decoder.push(chunk);
    } catch (error) {
      fail((error as Error).message);
      return;
    }
    for (const message of messages) {
      if (!isToWorker(message)) return fail('a frame that is not a coordinator message');
      if (message.type === 'load') {
        const job = message.job as ShippedJob;
        if (job.scenarioSource === undefined || typeof job.scenarioSource.text !== 'string') return fail('a job without its scenario source');
        scenarioDir = mkdtempSync(join(tmpdir(), 'keel-load-agent-'));
        const file = join(scenarioDir, basename(job.scenarioSource.fileName));
        writeFileSync(file, job.scenarioSource.text);
        session.handle({ type: 'load', job: { ...job, scenarioFile: file, scenarioSource: undefined } as Job });
      } else session.handle(message as ToWorker);
    }
  });
  socket.on('end', () => {
    try {
      decoder.end();
    } catch (error) {
      log(`${peer}: ${(error as Error).message}`);
    }
  });
  socket.on('error', () => undefined);
  socket.on('close', () => {
    // The coordinator went away: stop loading the target for nobody.
    session.handle({ type: 'stop' });
    void session.finished.then(() => {
      if (scenarioDir !== undefined) rmSync(scenarioDir, { recursive: true, force: true });
    });
  });
}

/** A coordinator's link to one agent. */
export class AgentLink implements WorkerLink {
  readonly name: string;
  readonly closed: Promise<string>;
  readonly #socket: Socket;
  readonly #listeners: ((message: FromWorker) => void)[] = [];

  private constructor(name: string, socket: Socket) {
    this.name = name;
    this.#socket = socket;
    const decoder = new FrameDecoder();
    let why = 'closed its connection';
    socket.on('data', (chunk) => {
      try {
        for (const message of decoder.push(chunk)) {
          if (isFromWorker(message)) this.#listeners.forEach((listener) => listener(message));
          else throw new LoadError('KEEL_LOAD_PROTOCOL', 'a frame that is not a worker message');
        }
      } catch (error) {
        why = `spoke garbage: ${(error as Error).message}`;
        socket.destroy();
      }
    });
    socket.on('error', (error) => (why = `connection failed: ${(error as NodeJS.ErrnoException).code ?? error.message}`));
    this.closed = new Promise((resolve) => socket.once('close', () => resolve(why)));
  }

  static connect(address: string): Promise<AgentLink> {
    const { host, port } = parseAddress(address);
    return new Promise((resolve, reject) => {
      const socket = createConnection({ host, port });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new LoadError('KEEL_LOAD_WORKER_LOST', `agent ${address}: no connection within ${CONNECT_TIMEOUT_MS / 1000}s`));
      }, CONNECT_TIMEOUT_MS);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.setNoDelay(true);
        resolve(new AgentLink(`agent ${address}`, socket));
      });
      socket.once('error', (error) => {
        clearTimeout(timer);
        reject(new LoadError('KEEL_LOAD_WORKER_LOST', `agent ${address}: ${(error as NodeJS.ErrnoException).code ?? error.message}`));
      });
    });
  }

  send(message: ToWorker): void {
    if (this.#socket.destroyed) return;
    if (message.type === 'load') {
      const source = { fileName: basename(message.job.scenarioFile), text: readFileSync(message.job.scenarioFile, 'utf8') };
      this.#socket.write(encodeFrame({ type: 'load', job: { ...message.job, scenarioSource: source } }));
    } else this.#socket.write(encodeFrame(message));
  }

  onMessage(listener: (message: FromWorker) => void): void {
    this.#listeners.push(listener);
  }

  kill(): void {
    this.#socket.destroy();
  }
}

/**
 * Connects to every agent; one that cannot be reached fails the run before it
 * starts. Agents are named by the operator (--agents), so they need no
 * --allow-remote; the targets they load are checked by each agent with the
 * job's allowRemote.
 */
export async function agentLinks(addresses: readonly string[]): Promise<WorkerLink[]> {
  if (addresses.length === 0) throw new LoadError('KEEL_LOAD_BAD_INPUT', '--agents: name at least one host:port');
  const results = await Promise.allSettled(addresses.map((address) => AgentLink.connect(address)));
  const failures = results.filter((result): result is PromiseRejectedResult => result.status === 'rejected');
  if (failures.length > 0) {
    for (const result of results) if (result.status === 'fulfilled') result.value.kill();
    throw new LoadError('KEEL_LOAD_WORKER_LOST', failures.map((failure) => (failure.reason as Error).message).join('; '));
  }
  return results.map((result) => (result as PromiseFulfilledResult<AgentLink>).value);
}
