import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { type AdminAccess, adminAllowed } from './admin-auth.js';
import { GATEWAY_ERROR_TABLE } from './errors.js';

/**
 * What the admin server serves: a Gateway, or with `--workers N` the
 * primary, whose view and metrics aggregate its workers'.
 */
export interface AdminSubject {
  readonly ready: boolean;
  readonly draining: boolean;
  describe(): Record<string, unknown> | Promise<Record<string, unknown>>;
  readonly metrics: { readonly registry: { metrics(): Promise<string>; readonly contentType: string } };
  reloadFromFile(): Promise<{ ok: true } | { ok: false; error: string }>;
}

function json(response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body, null, 2);
  response.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  response.end(text);
}

/**
 * The admin server (its own port, keep it on loopback): `/clusters`
 * (endpoints with health, ejection, weight, in-flight; concurrency limits),
 * `/metrics` (Prometheus), `/livez`, `/readyz` (503 while draining or
 * before the listeners are up), `POST /reload`. With a token configured,
 * every endpoint (but /metrics when `openMetrics` says so) answers 401
 * KEEL_GW_ADMIN_UNAUTHORIZED to a request without `Authorization: Bearer <token>`.
 * `access` is read per request, so a reload that rotates the token applies at once.
 */
export function createAdminServer(gateway: AdminSubject, access: () => AdminAccess): Server {
  return createServer((request: IncomingMessage, response: ServerResponse) => {
    const path = (request.url ?? '/').split('?')[0] ?? '/';
    if (!adminAllowed(access(), request, path)) {
      request.resume();
      response.setHeader('www-authenticate', 'Bearer realm="keel-gateway-admin"');
      return json(response, GATEWAY_ERROR_TABLE.KEEL_GW_ADMIN_UNAUTHORIZED.status, { code: 'KEEL_GW_ADMIN_UNAUTHORIZED', error: 'the admin port needs Authorization: Bearer <token>' });
    }
    void (async () => {
      switch (path) {
        case '/livez': return json(response, 200, { status: 'ok' });
        case '/readyz': return gateway.ready ? json(response, 200, { status: 'ready' }) : json(response, 503, { status: gateway.draining ? 'draining' : 'starting' });
        case '/clusters': return json(response, 200, await gateway.describe());
        case '/metrics': {
          const text = await gateway.metrics.registry.metrics();
          response.writeHead(200, { 'content-type': gateway.metrics.registry.contentType });
          response.end(text);
          return;
        }
        case '/reload': {
          if (request.method !== 'POST') return json(response, 405, { error: 'POST only' });
          const result = await gateway.reloadFromFile();
          return json(response, result.ok ? 200 : 400, result);
        }
        default: return json(response, 404, { error: 'not found' });
      }
    })().catch((error: unknown) => json(response, 500, { error: String(error) }));
  });
}
