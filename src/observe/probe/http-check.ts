import type { HttpCheckSpec } from './config.js';
import { evaluateExpect } from './assertions.js';
import { exchange } from './http-client.js';
import { fail, pass, type Outcome } from './result.js';

/** An HTTP check: one request, then every assertion of `expect` (status 2xx when none is named). */
export async function runHttpCheck(spec: HttpCheckSpec, timeoutMs: number, signal: AbortSignal): Promise<Outcome> {
  const { body, headers } = requestBody(spec);
  const startedAt = performance.now();
  const response = await exchange({ url: spec.url, method: spec.method, headers, body, timeoutMs, signal });
  const durationMs = performance.now() - startedAt;
  const failures = evaluateExpect(spec.expect, { ...response, durationMs });
  return failures.length === 0 ? pass({ httpStatus: response.status }) : fail(failures.join('; '), { httpStatus: response.status });
}

/** A string body goes as is; an object or list as JSON, with a JSON content-type unless the check names one. */
function requestBody(spec: HttpCheckSpec): { body: string | undefined; headers: Record<string, string> | undefined } {
  if (spec.body === undefined || typeof spec.body === 'string') return { body: spec.body, headers: spec.headers };
  const named = Object.keys(spec.headers ?? {}).some((name) => name.toLowerCase() === 'content-type');
  return { body: JSON.stringify(spec.body), headers: named ? spec.headers : { ...spec.headers, 'content-type': 'application/json' } };
}
