import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSecureServer } from 'node:http2';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { issueCertificate, makeAuthority } from '../../src/cli/local-pki.js';
import { realClock } from '../../src/load/clock.js';
import { VuHttp } from '../../src/load/http.js';
import type { MetricSink } from '../../src/load/sink.js';
import { TargetGuard } from '../../src/load/targets.js';
import { DEFAULT_TLS, TlsProfile, type TlsSettings } from '../../src/load/tls.js';

const authority = makeAuthority('keel load test CA', 1);
const leaf = issueCertificate(authority, 'localhost', ['localhost', '127.0.0.1'], 1);

/** A sink that keeps the tags of every http_reqs sample. */
function recordingSink(): { sink: MetricSink; reqTags: Record<string, string>[] } {
  const reqTags: Record<string, string>[] = [];
  const sink = {
    tagged: true,
    counter: (name: string, _value: number, tags?: Record<string, string>) => {
      if (name === 'http_reqs' && tags !== undefined) reqTags.push({ ...tags });
    },
    trend: () => undefined,
    rate: () => undefined,
    error: () => undefined,
  } as unknown as MetricSink;
  return { sink, reqTags };
}

function vuHttp(sink: MetricSink, tls: Partial<TlsSettings>): VuHttp {
  return new VuHttp({
    clock: realClock,
    sink,
    guard: new TargetGuard([]),
    reuseConnections: true,
    timeoutMs: 5000,
    signal: new AbortController().signal,
    takeIntendedStart: () => undefined,
    tags: () => ({}),
    tls: new TlsProfile({ ...DEFAULT_TLS, ...tls }),
  });
}

test('https: h2 is negotiated via ALPN, one session per VU, tagged proto HTTP/2.0; http/1.1-only TLS still works', { timeout: 15_000 }, async () => {
  const versions: string[] = [];
  const sessions = new Set<unknown>();
  const h2 = createSecureServer({ cert: leaf.certPem, key: leaf.keyPem, allowHTTP1: true }, (request, response) => {
    versions.push(request.httpVersion);
    if (request.httpVersion === '2.0') sessions.add(request.stream.session);
    response.end('ok');
  });
  const h1 = createServer({ cert: leaf.certPem, key: leaf.keyPem }, (_request, response) => response.end('ok'));
  await Promise.all([new Promise<void>((resolve) => h2.listen(0, '127.0.0.1', resolve)), new Promise<void>((resolve) => h1.listen(0, '127.0.0.1', resolve))]);
  const h2Url = `https://127.0.0.1:${(h2.address() as AddressInfo).port}/`;
  const h1Url = `https://127.0.0.1:${(h1.address() as AddressInfo).port}/`;
  const recorded = recordingSink();
  const trusting = vuHttp(recorded.sink, { caPem: authority.certPem });
  const skipping = vuHttp(recorded.sink, { insecureSkipTLSVerify: true, http2: false });
  try {
    for (let request = 0; request < 3; request++) {
      const response = await trusting.get(h2Url);
      assert.equal(response.status, 200, response.error);
    }
    assert.deepEqual(versions, ['2.0', '2.0', '2.0']);
    assert.equal(sessions.size, 1, 'one h2 session per VU');
    assert.deepEqual(recorded.reqTags.map((tags) => tags.proto), ['HTTP/2.0', 'HTTP/2.0', 'HTTP/2.0']);

    // http2: false keeps HTTP/1.1 even where h2 is offered; insecureSkipTLSVerify accepts the unknown CA.
    assert.equal((await skipping.get(h2Url)).status, 200);
    assert.equal(versions.at(-1), '1.1');
    assert.equal(recorded.reqTags.at(-1)?.proto, 'HTTP/1.1');

    const h1Response = await trusting.get(h1Url);
    assert.equal(h1Response.status, 200, h1Response.error);
    assert.equal(recorded.reqTags.at(-1)?.proto, 'HTTP/1.1');

    // Without the CA or the skip, the self-signed chain is refused (counted, not thrown).
    const strict = vuHttp(recorded.sink, {});
    const refused = await strict.get(h1Url);
    await strict.close();
    assert.equal(refused.status, 0);
    assert.ok(refused.error !== undefined);
  } finally {
    await Promise.all([trusting.close(), skipping.close()]);
    h2.close();
    h1.close();
  }
});
