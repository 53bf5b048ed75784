import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Gateway } from '../../src/gateway/gateway.js';
import { parseGatewayConfig } from '../../src/gateway/config.js';
import { createPinoLogger } from '../../src/node/logger.js';
import { simpleConfig, startBackend } from './helpers.js';

/** A refused reload (bad config, unbindable port) is an expected error: one log line with its code and message, no stack. */

test('a refused reload logs one line with code and message, and no stack trace', async (t) => {
  const backend = await startBackend('app');
  const squatter = createServer();
  await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', resolve));
  const taken = (squatter.address() as { port: number }).port;
  const directory = mkdtempSync(join(tmpdir(), 'keel-reload-log-'));
  const file = join(directory, 'gw.yaml');
  const good = { ...simpleConfig([backend.address]), listeners: [{ port: 0 }], admin: { port: 0 } };
  writeFileSync(file, JSON.stringify(good));
  const lines: string[] = [];
  const log = createPinoLogger({ level: 'info', write: (line) => lines.push(line) });
  const gateway = await Gateway.start({ config: parseGatewayConfig(good), configFile: file, log });
  t.after(async () => {
    await gateway.close();
    await backend.close();
    squatter.close();
    rmSync(directory, { recursive: true, force: true });
  });
  const errorsLogged = (): Array<Record<string, unknown>> => lines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((record) => record.level === 50);

  writeFileSync(file, 'routes: [ {');
  assert.equal((await gateway.reloadFromFile()).ok, false);
  writeFileSync(file, JSON.stringify({ ...good, listeners: [{ port: taken }] }));
  assert.equal((await gateway.reloadFromFile()).ok, false);

  const logged = errorsLogged();
  assert.equal(logged.length, 2, 'one line per refused reload');
  for (const record of logged) {
    assert.match(String(record.code), /^KEEL_GW_/);
    assert.equal(typeof record.error, 'string');
    assert.equal(record.err, undefined, 'no error object (and so no stack)');
    assert.ok(!JSON.stringify(record).includes('    at '), 'no stack frames');
  }
  assert.equal(logged[1]!.code, 'KEEL_GW_LISTENER_UNAVAILABLE');
  assert.ok(String(logged[1]!.error).includes(`127.0.0.1:${taken}`));
});
