import type { IncomingMessage, ServerResponse } from 'node:http';
import type { SkewableClock } from '../node/clock.js';
import { NodeError } from '../node/errors.js';
import { setStaleReads, staleReadsOn, staleReadsPermitted } from '../node/test-stale-reads.js';
import { failpointApiEnabled, listFailpoints, setFailpoint, StorageError } from '../storage/index.js';

/** A failpoint call's body is one small JSON object. */
const FAILPOINT_BODY_BYTES_MAX = 4_096;

/**
 * `/debug/failpoints` on the client port: GET lists the active failpoints,
 * POST `{"name": "wal-before-fsync", "action": "crash@3"}` sets one (`"off"`
 * clears it). For fault injection on a running member (`keel chaos
 * failpoint`); refused with 403 unless the member was started with
 * `--enable-failpoint-api` or KEEL_FAILPOINT_API=1, never in production.
 */
export async function handleFailpoints(request: IncomingMessage, response: ServerResponse): Promise<void> {
  const body = await readSmallBody(request);
  const send = (status: number, value: unknown): void => {
    response.writeHead(status, { 'content-type': 'application/json' });
    response.end(JSON.stringify(value));
  };
  if (!failpointApiEnabled()) return send(403, { error: 'the failpoint API is off: start the member with --enable-failpoint-api or KEEL_FAILPOINT_API=1', code: 'KEEL_FAILPOINT_API_DISABLED' });
  if (request.method === 'GET') return send(200, { failpoints: listFailpoints() });
  if (request.method !== 'POST') return send(405, { error: `method ${request.method} not allowed` });
  if (body === undefined) return send(413, { error: `body over ${FAILPOINT_BODY_BYTES_MAX} bytes` });
  let fields: { name?: unknown; action?: unknown };
  try {
    fields = JSON.parse(body.toString('utf8')) as { name?: unknown; action?: unknown };
  } catch {
    return send(400, { error: 'body is not JSON' });
  }
  if (typeof fields.name !== 'string' || typeof fields.action !== 'string') return send(400, { error: 'expected {"name": "<failpoint>", "action": "crash|pause|throw|sleep(ms)[@n]|off"}' });
  try {
    setFailpoint(fields.name, fields.action);
  } catch (error) {
    if (StorageError.is(error)) return send(400, { error: error.message, code: error.code });
    throw error;
  }
  return send(200, { failpoints: listFailpoints() });
}

/**
 * `/debug/clock` on the client port: GET tells the member clock's rate and
 * how far it runs ahead of the host's; POST `{"rate": 5}` makes it drift,
 * `{"bumpMs": 2000}` jumps it forward, both at once are allowed, `{"rate": 1}`
 * stops the drift (the skew so far stays: a monotonic clock never goes back).
 * For `keel chaos clock`; behind the same switch as the failpoint API.
 */
export async function handleClock(clock: SkewableClock, request: IncomingMessage, response: ServerResponse): Promise<void> {
  const body = await readSmallBody(request);
  const send = (status: number, value: unknown): void => {
    response.writeHead(status, { 'content-type': 'application/json' });
    response.end(JSON.stringify(value));
  };
  if (!failpointApiEnabled()) return send(403, { error: 'the fault-injection API is off: start the member with --enable-failpoint-api or KEEL_FAILPOINT_API=1', code: 'KEEL_FAILPOINT_API_DISABLED' });
  if (request.method === 'GET') return send(200, clock.state());
  if (request.method !== 'POST') return send(405, { error: `method ${request.method} not allowed` });
  if (body === undefined) return send(413, { error: `body over ${FAILPOINT_BODY_BYTES_MAX} bytes` });
  let fields: unknown;
  try {
    fields = JSON.parse(body.toString('utf8'));
  } catch {
    return send(400, { error: 'body is not JSON' });
  }
  if (typeof fields !== 'object' || fields === null || Array.isArray(fields)) return send(400, { error: 'expected {"rate"?: number, "bumpMs"?: number}' });
  const { rate, bumpMs, ...rest } = fields as { rate?: unknown; bumpMs?: unknown };
  const unknown = Object.keys(rest);
  if (unknown.length > 0) return send(400, { error: `unknown field ${unknown[0]}: expected {"rate"?: number, "bumpMs"?: number}`, code: 'KEEL_NODE_CLOCK_SKEW_INVALID' });
  try {
    return send(200, clock.skew({ ...(rate !== undefined ? { rate: rate as number } : {}), ...(bumpMs !== undefined ? { bumpMs: bumpMs as number } : {}) }));
  } catch (error) {
    if (NodeError.is(error)) return send(400, { error: error.message, code: error.code });
    throw error;
  }
}

async function readSmallBody(request: IncomingMessage): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size <= FAILPOINT_BODY_BYTES_MAX) chunks.push(chunk);
  }
  return size > FAILPOINT_BODY_BYTES_MAX ? undefined : Buffer.concat(chunks);
}

/**
 * `/debug/stale-reads` on the client port, test-only: POST `{"on": true}`
 * switches on the planted stale-read bug (src/node/test-stale-reads.ts),
 * `{"on": false}` off; GET tells its state. 403 unless the member runs with
 * KEEL_TEST_STALE_READS=1.
 */
export async function handleStaleReads(request: IncomingMessage, response: ServerResponse): Promise<void> {
  const body = await readSmallBody(request);
  const send = (status: number, value: unknown): void => {
    response.writeHead(status, { 'content-type': 'application/json' });
    response.end(JSON.stringify(value));
  };
  if (!staleReadsPermitted()) return send(403, { error: 'the planted stale-read bug is for tests only: start the member with KEEL_TEST_STALE_READS=1', code: 'KEEL_TEST_STALE_READS_DISABLED' });
  if (request.method === 'GET') return send(200, { on: staleReadsOn() });
  if (request.method !== 'POST') return send(405, { error: `method ${request.method} not allowed` });
  let on: unknown;
  try {
    on = (JSON.parse((body ?? Buffer.alloc(0)).toString('utf8')) as { on?: unknown }).on;
  } catch {
    return send(400, { error: 'body is not JSON' });
  }
  if (typeof on !== 'boolean') return send(400, { error: 'expected {"on": true|false}' });
  setStaleReads(on);
  return send(200, { on: staleReadsOn() });
}
