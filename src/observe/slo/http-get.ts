import { request } from 'undici';
import { ObserveError } from './errors.js';
import { REQUEST_TIMEOUT_MS, RESPONSE_BYTES_MAX } from './limits.js';

/**
 * GET a URL and return its body as text, bounded in time and size. Every
 * failure is an ObserveError KEEL_OBSERVE_UNREACHABLE naming the URL, so
 * "Prometheus is down" and "target n2 is gone" read the same way.
 */
export async function httpGetText(url: string, what: string): Promise<string> {
  let response;
  try {
    response = await request(url, { method: 'GET', signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS), headers: { accept: 'text/plain, application/json' } });
  } catch (error) {
    const cause = error as Error & { code?: string; cause?: { code?: string } };
    throw new ObserveError('KEEL_OBSERVE_UNREACHABLE', `cannot reach ${what} at ${url}: ${cause.code ?? cause.cause?.code ?? cause.name}: ${cause.message}`);
  }
  const chunks: Buffer[] = [];
  let bytes = 0;
  try {
    for await (const chunk of response.body) {
      bytes += (chunk as Buffer).length;
      if (bytes > RESPONSE_BYTES_MAX) {
        response.body.destroy();
        throw new ObserveError('KEEL_OBSERVE_UNREACHABLE', `${what} at ${url}: answer larger than ${RESPONSE_BYTES_MAX} bytes`);
      }
      chunks.push(chunk as Buffer);
    }
  } catch (error) {
    if (ObserveError.is(error)) throw error;
    throw new ObserveError('KEEL_OBSERVE_UNREACHABLE', `${what} at ${url}: the answer broke off: ${(error as Error).message}`);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (response.statusCode < 200 || response.statusCode >= 300) {
    // Prometheus answers query errors with 400/422 and a JSON body; let the caller read it.
    if (response.statusCode === 400 || response.statusCode === 422) return text;
    throw new ObserveError('KEEL_OBSERVE_UNREACHABLE', `${what} at ${url} answered HTTP ${response.statusCode}`);
  }
  return text;
}

/** Checks a URL given on the command line or to the API; `field` names it in the error. */
export function checkHttpUrl(text: string, field: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ObserveError('KEEL_OBSERVE_BAD_OPTION', `${field}: '${text}' is not a URL (write http://127.0.0.1:9090)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ObserveError('KEEL_OBSERVE_BAD_OPTION', `${field}: '${text}' is not an http(s) URL`);
  return url.toString();
}
