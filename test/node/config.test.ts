import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadNodeConfig } from '../../src/node/config.js';

const base = { id: 'n1', dataDir: '/tmp/x', listenPeer: '127.0.0.1:2380', listenClient: '127.0.0.1:2379', peers: 'n1=127.0.0.1:2380,n2=127.0.0.1:22380' };

test('flags override environment variables, which override the YAML file', () => {
  const yaml = 'id: n9\ndataDir: /from/file\nlistenPeer: 127.0.0.1:1\nlistenClient: 127.0.0.1:2\npeers:\n  n1: 127.0.0.1:2380\ntickMs: 50\n';
  const config = loadNodeConfig({ config: 'keel.yaml', id: 'n1' }, { KEEL_DATA_DIR: '/from/env' }, () => yaml);
  assert.equal(config.id, 'n1');
  assert.equal(config.dataDir, '/from/env');
  assert.equal(config.tickMs, 50);
  assert.deepEqual(config.peers, { n1: '127.0.0.1:2380' });
  assert.equal(config.electionTicks, 12, 'defaults fill the rest');
});

test('invalid settings are refused with every bad field named', () => {
  assert.throws(
    () => loadNodeConfig({ ...base, listenPeer: 'nowhere', tickMs: '0', peers: 'n2=127.0.0.1:22380' }, {}),
    (error: Error & { code?: string }) =>
      error.code === 'KEEL_NODE_CONFIG_INVALID' &&
      /listenPeer: must be host:port/.test(error.message) &&
      /tickMs/.test(error.message) &&
      /peers: must include this member \(n1\)/.test(error.message),
  );
  assert.throws(() => loadNodeConfig({ ...base, peers: 'n1=a:1,n1=b:2' }, {}), /n1 is listed twice/);
  assert.throws(() => loadNodeConfig({ ...base, surprise: 1 }, {}), /Unrecognized key/);
  assert.throws(() => loadNodeConfig({ config: 'bad.yaml' }, {}, () => 'id: [unclosed'), /config file bad.yaml/);
});

test('a valid flag set loads', () => {
  const config = loadNodeConfig(base, {});
  assert.deepEqual(Object.keys(config.peers), ['n1', 'n2']);
  assert.equal(config.requestTimeoutMs, 5_000);
});
