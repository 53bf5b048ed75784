/**
 * One HTTP exchange with one member: POST a JSON body, read the JSON answer,
 * turn every failure into a typed client error. No retries here.
 */
import type { Dispatcher } from 'undici';
import { isNeverSentError, parseRetryAfter } from '../resilience/index.js';
import { BadResponseError, ConnectionError, NotLeaderError, ServerError, type ServerErrorBody, UnavailableError } from './errors.js';
import { RESPONSE_BYTES_MAX } from './limits.js';

/** keel's not-leader code (a 503 sent before proposing). */
export const KEEL_NOT_LEADER_CODE = 'KEEL_NODE_NOT_LEADER';

export interface PostOptions {
  readonly signal: AbortSignal;
  readonly headers: Readonly<Record<string, string>>;
}

function headerRecord(headers: Dispatcher.ResponseData['headers']): Record<string, string> {
  const record: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    record[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : String(value);
  }
  return record;
}

function parseErrorBody(text: string): ServerErrorBody {
  try {
    const parsed = JSON.parse(text) as unknown;
    if (typeof parsed === 'object' && parsed !== null) return parsed as ServerErrorBody;
  } catch {
    // not JSON (a proxy's page, etcd's plain-text 404): keep the text as the message
  }
  return { message: text.slice(0, 500) };
}

/** The typed error for a non-2xx answer. */
export function errorForStatus(status: number, text: string, headers: Record<string, string>, nowMs: number): ServerError {
  const body = parseErrorBody(text);
  if (status === 503 && body.keel_code === KEEL_NOT_LEADER_CODE) return new NotLeaderError(status, body, headers);
  if (status === 503 || status === 429) return new UnavailableError(status, body, headers, parseRetryAfter(headers['retry-after'], nowMs));
  return new ServerError(status, body, headers);
}

/**
 * POSTs `body` to `endpoint + path` and resolves with the parsed JSON of a
 * 2xx answer. Rejects with ServerError (or a subclass) for other statuses,
 * ConnectionError for transport failures (`sent: false` when the connection
 * was refused), BadResponseError for a body that is not JSON, and the
 * signal's reason when the signal fired.
 */
export async function postJson(dispatcher: Dispatcher, endpoint: string, path: string, body: unknown, options: PostOptions, nowMs: () => number): Promise<unknown> {
  let response: Dispatcher.ResponseData;
  try {
    response = await dispatcher.request({
      origin: endpoint,
      path,
      method: 'POST',
      body: JSON.stringify(body),
      headers: { 'content-type': 'application/json', ...options.headers },
      signal: options.signal,
    });
  } catch (error) {
    if (options.signal.aborted) throw options.signal.reason;
    throw new ConnectionError(!isNeverSentError(error), error);
  }
  let text: string;
  try {
    const length = Number(response.headers['content-length'] ?? 0);
    if (length > RESPONSE_BYTES_MAX) {
      response.body.destroy();
      throw new BadResponseError(`response of ${length} bytes exceeds ${RESPONSE_BYTES_MAX}`, response.statusCode);
    }
    text = await response.body.text();
  } catch (error) {
    if (options.signal.aborted) throw options.signal.reason;
    if (error instanceof BadResponseError) throw error;
    throw new ConnectionError(true, error);
  }
  if (response.statusCode < 200 || response.statusCode >= 300) throw errorForStatus(response.statusCode, text, headerRecord(response.headers), nowMs());
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new BadResponseError(`response from ${endpoint}${path} is not JSON: ${text.slice(0, 200)}`, response.statusCode);
  }
}
