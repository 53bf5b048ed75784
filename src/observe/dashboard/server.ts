import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Collector } from './collector.js';
import { DashboardError } from './errors.js';
import { EVENT_STREAM_BACKLOG_BYTES_MAX, EVENT_STREAMS_MAX } from './limits.js';
import { PAGE_HTML, PAGE_STYLE } from './page.js';
import { PAGE_SCRIPT } from './page-script.js';
import type { DashboardState } from './state.js';

/**
 * The dashboard's HTTP server: the page and its two assets (served by keel
 * itself, no CDN; the Content-Security-Policy forbids anything else), the
 * live stream at /events (server-sent events), the same state as JSON at
 * /api/state and /api/history, and /livez.
 */

/** A comment line now and then keeps idle proxies from closing the stream between slow polls. */
const KEEPALIVE_MS = 15_000;
const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'cache-control': 'no-store',
};

export interface DashboardServer {
  readonly server: Server;
  readonly url: string;
  close(): Promise<void>;
}

export async function serveDashboard(collector: Collector, port: number, host = '127.0.0.1'): Promise<DashboardServer> {
  const streams = new Set<ServerResponse>();
  const server = createServer((request, response) => route(request, response, collector, streams));
  const broadcast = (state: DashboardState): void => {
    const frame = `event: state\ndata: ${JSON.stringify(state)}\n\n`;
    for (const stream of streams) send(stream, frame);
  };
  collector.on('state', broadcast);
  const keepalive = setInterval(() => {
    for (const stream of streams) send(stream, ': keepalive\n\n');
  }, KEEPALIVE_MS);
  keepalive.unref();
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      clearInterval(keepalive);
      collector.off('state', broadcast);
      reject(new DashboardError('KEEL_DASH_LISTEN', `cannot listen on ${host}:${port}: ${error.code === 'EADDRINUSE' ? 'the port is in use' : error.message}`));
    });
    server.listen({ port, host }, resolve);
  });
  return {
    server,
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    close: async () => {
      clearInterval(keepalive);
      collector.off('state', broadcast);
      for (const stream of streams) stream.end();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Writes a frame, or drops a browser too slow to follow (its backlog would grow without bound). */
function send(stream: ServerResponse, frame: string): void {
  if (stream.writableLength > EVENT_STREAM_BACKLOG_BYTES_MAX) {
    stream.destroy();
    return;
  }
  stream.write(frame);
}

function route(request: IncomingMessage, response: ServerResponse, collector: Collector, streams: Set<ServerResponse>): void {
  if (request.method !== 'GET' && request.method !== 'HEAD') return reply(response, 405, 'text/plain', 'GET only\n');
  const path = (request.url ?? '/').split('?')[0];
  switch (path) {
    case '/': return reply(response, 200, 'text/html; charset=utf-8', PAGE_HTML);
    case '/app.js': return reply(response, 200, 'text/javascript; charset=utf-8', PAGE_SCRIPT);
    case '/app.css': return reply(response, 200, 'text/css; charset=utf-8', PAGE_STYLE);
    case '/livez': return reply(response, 200, 'application/json', '{"status":"ok"}\n');
    case '/api/state': return collector.state ? reply(response, 200, 'application/json', JSON.stringify(collector.state)) : reply(response, 503, 'application/json', '{"error":"first poll not done yet"}\n');
    case '/api/history': return reply(response, 200, 'application/json', JSON.stringify(collector.history()));
    case '/events': return openStream(response, collector, streams);
    default: return reply(response, 404, 'text/plain', 'not found\n');
  }
}

function reply(response: ServerResponse, status: number, contentType: string, body: string): void {
  response.writeHead(status, { ...SECURITY_HEADERS, 'content-type': contentType, 'content-length': Buffer.byteLength(body) });
  response.end(body);
}

function openStream(response: ServerResponse, collector: Collector, streams: Set<ServerResponse>): void {
  if (streams.size >= EVENT_STREAMS_MAX) return reply(response, 503, 'text/plain', `at most ${EVENT_STREAMS_MAX} live pages at once\n`);
  response.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'text/event-stream', connection: 'keep-alive' });
  // A browser that reconnects gets the chart history first, then the latest state.
  response.write(`retry: 2000\nevent: history\ndata: ${JSON.stringify(collector.history())}\n\n`);
  if (collector.state) response.write(`event: state\ndata: ${JSON.stringify(collector.state)}\n\n`);
  streams.add(response);
  response.on('close', () => streams.delete(response));
}
