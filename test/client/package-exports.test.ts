import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

// `import 'keel'` resolves through package.json "exports" (a package may
// import itself by name), to the built dist/src/index.js: a missing "."
// export would fail here with ERR_PACKAGE_PATH_NOT_EXPORTED. Needs the build.
const built = existsSync(join(import.meta.dirname, '../../dist/src/index.js'));

// A variable specifier keeps TypeScript from resolving the built types at type-check time.
const load = (specifier: string): Promise<Record<string, unknown>> => import(specifier) as Promise<Record<string, unknown>>;

test("import 'keel' gives the client and the resilience library", { skip: built ? false : 'run npm run build first' }, async () => {
  const keel = await load('keel');
  assert.equal(typeof keel.KeelClient, 'function');
  assert.equal(typeof keel.WatchCompactedError, 'function');
  const client = keel.client as Record<string, unknown>;
  const resilience = keel.resilience as Record<string, unknown>;
  assert.equal(client.KeelClient, keel.KeelClient);
  assert.equal(typeof resilience.retry, 'function');
  assert.equal(typeof resilience.circuitBreaker, 'function');
  assert.equal((await load('keel/client')).KeelClient, keel.KeelClient, 'the same module as keel/client');
  assert.equal((await load('keel/resilience')).retry, resilience.retry);
  const KeelClient = keel.KeelClient as new (options: { endpoints: string[] }) => { endpoints: readonly string[]; close(): Promise<void> };
  const made = new KeelClient({ endpoints: ['127.0.0.1:2379'] });
  assert.deepEqual(made.endpoints, ['http://127.0.0.1:2379']);
  await made.close();
});
