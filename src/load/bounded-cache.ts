/**
 * A VU's per-origin clients (HTTP connections, undici Clients, gRPC
 * channels), bounded: a VU that crawls many origins keeps the newest and
 * closes the oldest rather than holding a connection to each.
 */
export function cachedOrCreated<V>(cache: Map<string, V>, key: string, max: number, create: () => V, dispose: (value: V) => void): V {
  let value = cache.get(key);
  if (value === undefined) {
    if (cache.size >= max) {
      const [oldest, oldestValue] = cache.entries().next().value as [string, V];
      cache.delete(oldest);
      dispose(oldestValue);
    }
    value = create();
    cache.set(key, value);
  }
  return value;
}
