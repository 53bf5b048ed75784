/** Small loopback helpers shared by the etcd cluster launcher, bench/kv.ts and the client tests. */
import { createServer } from 'node:net';
import { request } from 'undici';

/** Free TCP ports on 127.0.0.1, found by binding port 0 (all held at once, so they are distinct). */
export async function freeLoopbackPorts(count: number): Promise<number[]> {
  const servers = Array.from({ length: count }, () => createServer());
  try {
    return await Promise.all(
      servers.map(
        (server) =>
          new Promise<number>((resolve, reject) => {
            server.once('error', reject);
            server.listen(0, '127.0.0.1', () => {
              const address = server.address();
              if (address === null || typeof address === 'string') reject(new Error('no port'));
              else resolve(address.port);
            });
          }),
      ),
    );
  } finally {
    await Promise.all(servers.map((server) => new Promise((resolve) => server.close(() => resolve(undefined)))));
  }
}

export function sleepMs(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** One JSON POST without retries (undici's global dispatcher), bounded by `timeoutMs`; throws on a non-2xx status. */
export async function postJson(baseUrl: string, path: string, body: unknown, timeoutMs: number): Promise<unknown> {
  const response = await request(new URL(path, baseUrl), {
    method: 'POST',
    body: JSON.stringify(body),
    headers: { 'content-type': 'application/json' },
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await response.body.text();
  if (response.statusCode < 200 || response.statusCode >= 300) throw new Error(`${path}: HTTP ${response.statusCode} ${text}`);
  return JSON.parse(text) as unknown;
}
