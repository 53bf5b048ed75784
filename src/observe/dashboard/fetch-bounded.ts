import { FETCH_TIMEOUT_MS, RESPONSE_BYTES_MAX } from './limits.js';

/**
 * One request to a target, bounded in time and size. Failures are
 * described in words an operator reads on the page ("connection refused",
 * "no answer within 1500 ms"), because fetch's own message ("fetch failed")
 * hides the cause.
 */

export class TargetError extends Error {
  constructor(readonly url: string, message: string) {
    super(message);
    this.name = 'TargetError';
  }
}

export interface BoundedRequest {
  readonly method?: 'GET' | 'POST';
  readonly body?: string;
  readonly timeoutMs?: number;
  /** Extra request headers (the gateway admin's bearer token). */
  readonly headers?: Readonly<Record<string, string>>;
}

export async function fetchText(url: string, options: BoundedRequest = {}): Promise<string> {
  const timeoutMs = options.timeoutMs ?? FETCH_TIMEOUT_MS;
  let response: Response;
  try {
    response = await fetch(url, {
      method: options.method ?? 'GET',
      ...(options.body === undefined ? {} : { body: options.body }),
      headers: { ...(options.body === undefined ? {} : { 'content-type': 'application/json' }), ...options.headers },
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (error) {
    throw new TargetError(url, describeFailure(error, timeoutMs));
  }
  let text: string;
  try {
    text = await readCapped(response, url);
  } catch (error) {
    if (error instanceof TargetError) throw error;
    throw new TargetError(url, describeFailure(error, timeoutMs));
  }
  if (!response.ok) throw new TargetError(url, `HTTP ${response.status}${text ? `: ${text.slice(0, 200)}` : ''}`);
  return text;
}

export async function fetchJson(url: string, options: BoundedRequest = {}): Promise<unknown> {
  const text = await fetchText(url, options);
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new TargetError(url, 'answered something that is not JSON');
  }
}

async function readCapped(response: Response, url: string): Promise<string> {
  if (!response.body) return '';
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let bytes = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    bytes += value.byteLength;
    if (bytes > RESPONSE_BYTES_MAX) {
      await reader.cancel();
      throw new TargetError(url, `answered more than ${RESPONSE_BYTES_MAX} bytes`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function describeFailure(error: unknown, timeoutMs: number): string {
  const cause = (error as { cause?: { code?: unknown } }).cause;
  const code = typeof cause?.code === 'string' ? cause.code : (error as { name?: string }).name;
  if (code === 'ECONNREFUSED') return 'connection refused (down or not listening yet)';
  if (code === 'TimeoutError' || code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'AbortError') return `no answer within ${timeoutMs} ms (paused, overloaded or cut off)`;
  if (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET') return 'connection reset';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'host name does not resolve';
  return (error as Error).message ?? String(error);
}
