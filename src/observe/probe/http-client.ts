/**
 * One HTTP exchange for a probe, on a connection of its own: each run opens
 * a fresh connection (as blackbox_exporter does), so a probe sees what a new
 * client sees (a refused connect, a slow accept) rather than reusing a warm
 * socket, and destroying the dispatcher afterwards leaves no socket behind
 * even when the server never answered.
 */
import { Agent, request } from 'undici';
import { RESPONSE_BODY_BYTES_MAX } from './limits.js';

export interface ExchangeRequest {
  readonly url: string;
  readonly method: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string;
  readonly timeoutMs: number;
  readonly signal: AbortSignal;
}

export interface ExchangeResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: string;
  readonly truncated: boolean;
}

/** Sends one request and reads at most RESPONSE_BODY_BYTES_MAX of the body; rejects on a network error or abort. */
export async function exchange(options: ExchangeRequest): Promise<ExchangeResponse> {
  const dispatcher = new Agent({ connect: { timeout: options.timeoutMs }, connections: 1, pipelining: 1, keepAliveTimeout: 1 });
  try {
    const response = await request(options.url, {
      method: options.method as 'GET',
      ...(options.headers === undefined ? {} : { headers: { ...options.headers } }),
      ...(options.body === undefined ? {} : { body: options.body }),
      signal: options.signal,
      dispatcher,
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
    });
    const chunks: Buffer[] = [];
    let size = 0;
    let truncated = false;
    for await (const chunk of response.body as AsyncIterable<Buffer>) {
      const room = RESPONSE_BODY_BYTES_MAX - size;
      chunks.push(chunk.length > room ? chunk.subarray(0, room) : chunk);
      size += Math.min(chunk.length, room);
      if (chunk.length > room) {
        truncated = true;
        response.body.destroy();
        break;
      }
    }
    return { status: response.statusCode, headers: response.headers, body: Buffer.concat(chunks).toString('utf8'), truncated };
  } finally {
    await dispatcher.destroy().catch(() => undefined);
  }
}
