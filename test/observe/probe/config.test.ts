import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseChecks, ProbeError, readChecksFile } from '../../../src/observe/probe/index.js';
import { jsonAssertionFailures } from '../../../src/observe/probe/assertions.js';
import { decodeResponse, encodeRequest } from '../../../src/observe/probe/grpc-health-check.js';
import { lookupJsonPath, parseJsonPath } from '../../../src/observe/probe/json-path.js';
import type { JsonAssertion } from '../../../src/observe/probe/config.js';

function badFile(text: string): ProbeError {
  try {
    parseChecks(text, 'checks.yaml');
  } catch (error) {
    assert.ok(ProbeError.is(error), `not a ProbeError: ${String(error)}`);
    assert.equal(error.code, 'KEEL_PROBE_BAD_CHECKS_FILE');
    return error;
  }
  assert.fail('the file was accepted');
}

test('a valid file yields checks with defaults: 5 s timeout, GET, any 2xx, prefix /keel-probe/', () => {
  const checks = parseChecks(
    [
      'checks:',
      '  - name: web',
      '    labels: { team: edge }',
      '    http: { url: "http://127.0.0.1:8080/readyz" }',
      '  - name: kv',
      '    timeout: 1500ms',
      '    kv: { endpoint: "http://127.0.0.1:2379" }',
      '  - name: grpc',
      '    grpcHealth: { address: "[::1]:50051", service: keel }',
      '  - name: peer',
      '    tcp: { address: "localhost:2380" }',
    ].join('\n'),
    'checks.yaml',
  );
  assert.deepEqual(checks.map((check) => [check.name, check.kind, check.timeoutMs]), [['web', 'http', 5_000], ['kv', 'kv', 1_500], ['grpc', 'grpcHealth', 5_000], ['peer', 'tcp', 5_000]]);
  const [web, kv] = checks;
  assert.ok(web?.kind === 'http' && kv?.kind === 'kv');
  assert.equal(web.http.method, 'GET');
  assert.deepEqual(web.labels, { team: 'edge' });
  assert.equal(kv.kv.prefix, '/keel-probe/');
  assert.equal(kv.kv.delete, false);
});

test('a malformed file names every bad field by its path and line, with a stable code', () => {
  const error = badFile(
    [
      'checks:',
      '  - name: a',
      '    tcp: { address: "127.0.0.1:1" }',
      '  - name: b',
      '    tcp: { address: "127.0.0.1:70000" }',
      '  - name: c',
      '    http:',
      '      url: http://127.0.0.1/',
      '      expect: { status: "200", maxMs: fast }',
      '  - name: d',
      '    http: { url: "ftp://127.0.0.1/" }',
      '    tcp: { address: "127.0.0.1:1" }',
      '  - name: e',
      '    timeout: soon',
      '    labels: { probe: x }',
      '    http:',
      '      url: http://127.0.0.1/',
      '      expect: { json: [{ path: "header.revision", gt: 0 }, { path: "$.a" }], body: { matches: "(" } }',
    ].join('\n'),
  );
  for (const expected of [
    'checks[1].tcp.address: expected host:port (a port from 1 to 65535) (line 5)',
    'checks[2].http.expect.status: expected a number (a status code) or a list of them (line 9)',
    'checks[2].http.expect.maxMs: expected a number',
    'checks[3].http.url: expected an http:// or https:// URL',
    'checks[3]: give exactly one of http, kv, grpcHealth, tcp (found http, tcp)',
    "checks[4].timeout: 'soon' is not a positive duration",
    'checks[4].labels.probe: reserved label name',
    "checks[4].http.expect.json[0].path: 'header.revision' must start with $",
    'checks[4].http.expect.json[1]: give at least one of equals, matches, exists, gt, lt',
    'checks[4].http.expect.body.matches: not a regular expression',
  ]) {
    assert.ok(error.message.includes(expected), `missing ${JSON.stringify(expected)} in:\n${error.message}`);
  }
});

test('other bad files: not YAML, no checks, unknown keys, duplicate names, a missing file', () => {
  assert.match(badFile('checks: [').message, /^checks\.yaml: line \d+:/);
  assert.match(badFile('checks: []').message, /checks: Too small/);
  assert.match(badFile('checks:\n  - name: a\n    tcp: { address: "h:1", port: 2 }\n').message, /checks\[0\]\.tcp: Unrecognized key: "port"/);
  assert.match(badFile('checks:\n  - tcp: { address: "h:1" }\n').message, /checks\[0\]\.name: required \(a string\)/);
  assert.match(badFile('checks:\n  - { name: a, tcp: { address: "h:1" } }\n  - { name: a, tcp: { address: "h:2" } }\n').message, /checks\[1\]\.name: duplicate check name 'a'/);
  const dir = mkdtempSync(join(tmpdir(), 'keel-probe-config-'));
  try {
    assert.throws(() => readChecksFile(join(dir, 'missing.yaml')), (error: unknown) => ProbeError.is(error) && error.code === 'KEEL_PROBE_BAD_CHECKS_FILE' && /missing\.yaml: cannot read/.test(error.message));
    writeFileSync(join(dir, 'ok.yaml'), 'checks:\n  - { name: a, tcp: { address: "127.0.0.1:1" } }\n');
    assert.equal(readChecksFile(join(dir, 'ok.yaml')).length, 1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('JSON paths: names, indexes and quoted keys; missing steps are not found', () => {
  const document = { header: { revision: '42' }, kvs: [{ value: 'dg==' }], labels: { 'app.kubernetes.io/name': 'keel' }, nothing: null };
  const at = (path: string): { found: boolean; value: unknown } => {
    const segments = parseJsonPath(path);
    assert.ok(Array.isArray(segments), String(segments));
    return lookupJsonPath(document, segments);
  };
  assert.deepEqual(at('$.header.revision'), { found: true, value: '42' });
  assert.deepEqual(at('$.kvs[0].value'), { found: true, value: 'dg==' });
  assert.deepEqual(at('$.labels["app.kubernetes.io/name"]'), { found: true, value: 'keel' });
  assert.deepEqual(at('$.nothing'), { found: true, value: null });
  assert.deepEqual(at('$'), { found: true, value: document });
  for (const missing of ['$.kvs[1]', '$.header.revision.deeper', '$.kvs.value', '$.absent', '$.header[0]']) assert.equal(at(missing).found, false, missing);
  for (const bad of ['header', '$.', '$[x]', '$..a', '$.a b']) assert.equal(typeof parseJsonPath(bad), 'string', bad);
});

test('JSON assertions: equals (numbers match etcd\'s int64 strings), matches, exists, gt, lt', () => {
  const assertion = (path: string, rest: Omit<JsonAssertion, 'path'>): JsonAssertion => ({ path: { text: path, segments: parseJsonPath(path) as (string | number)[] }, ...rest });
  const document = { header: { revision: '42' }, items: [1, 2], name: 'keel-7', flag: false };
  assert.deepEqual(jsonAssertionFailures(assertion('$.header.revision', { equals: 42, gt: 10, lt: 100 }), document), []);
  assert.deepEqual(jsonAssertionFailures(assertion('$.items', { equals: [1, 2] }), document), []);
  assert.deepEqual(jsonAssertionFailures(assertion('$.name', { matches: /^keel-\d+$/ }), document), []);
  assert.deepEqual(jsonAssertionFailures(assertion('$.flag', { equals: false }), document), []);
  assert.deepEqual(jsonAssertionFailures(assertion('$.absent', { exists: false }), document), []);
  assert.deepEqual(jsonAssertionFailures(assertion('$.header.revision', { gt: 42 }), document), ['$.header.revision is 42, expected > 42']);
  assert.deepEqual(jsonAssertionFailures(assertion('$.header.revision', { lt: 5 }), document), ['$.header.revision is 42, expected < 5']);
  assert.deepEqual(jsonAssertionFailures(assertion('$.name', { gt: 1 }), document), ['$.name is "\\"keel-7\\"", not a number']);
  assert.deepEqual(jsonAssertionFailures(assertion('$.absent', { exists: true }), document), ['$.absent does not exist']);
  assert.deepEqual(jsonAssertionFailures(assertion('$.absent', { equals: 1 }), document), ['$.absent does not exist']);
  assert.deepEqual(jsonAssertionFailures(assertion('$.items[0]', { equals: 2 }), document), ['$.items[0] is "1", expected "2"']);
});

test('the gRPC health codec: a request encodes the service, a response decodes the status and skips other fields', () => {
  assert.deepEqual(encodeRequest(''), Buffer.alloc(0));
  assert.deepEqual(encodeRequest('keel'), Buffer.from([0x0a, 4, 0x6b, 0x65, 0x65, 0x6c]));
  assert.equal(decodeResponse(Buffer.from([0x08, 0x01])), 1);
  assert.equal(decodeResponse(Buffer.alloc(0)), 0);
  // An unknown length-delimited field 2 before the status.
  assert.equal(decodeResponse(Buffer.from([0x12, 0x02, 0x61, 0x62, 0x08, 0x02])), 2);
  assert.throws(() => decodeResponse(Buffer.from([0x08])), /truncated/);
  assert.throws(() => decodeResponse(Buffer.from([0x12, 0x05, 0x61])), /truncated/);
});

test('the example checks file for keel up parses', () => {
  const checks = readChecksFile(join(import.meta.dirname, '../../../examples/probe/checks.yaml'));
  assert.ok(checks.length >= 5);
  assert.deepEqual(new Set(checks.map((check) => check.kind)), new Set(['kv', 'http', 'tcp']));
});
