import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ChunkedFraming } from '../../../src/gateway/http1/body-framing.js';
import { findHeadEnd, parseRequestHead, parseResponseHead, skipLeadingCrlf } from '../../../src/gateway/http1/head-parser.js';

const MAX = 16 * 1024;

/** Parses a whole head the way the connection does; throws what the parser throws. */
function parse(text: string) {
  const buffer = Buffer.from(text, 'latin1');
  const start = skipLeadingCrlf(buffer, 0);
  const end = findHeadEnd(buffer, start, MAX);
  if (end === -1) return undefined;
  return parseRequestHead(buffer.subarray(start, end));
}

function codeOf(run: () => unknown): string | undefined {
  try {
    run();
    return undefined;
  } catch (error) {
    return (error as { code?: string }).code;
  }
}

// RFC 9112 cases: each refused head names the section it breaks.
const REFUSED: Array<[string, string, string]> = [
  ['CL and TE together (§6.3 ¶3)', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n', 'KEEL_GW_BAD_REQUEST'],
  ['two differing Content-Length (§6.3 ¶5)', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n', 'KEEL_GW_BAD_REQUEST'],
  ['two equal Content-Length', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n', 'KEEL_GW_BAD_REQUEST'],
  ['a Content-Length list', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n', 'KEEL_GW_BAD_REQUEST'],
  ['a signed Content-Length', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n', 'KEEL_GW_BAD_REQUEST'],
  ['a bare LF ending a field (§2.2)', 'GET / HTTP/1.1\r\nHost: a\nX: 1\r\n\r\n', 'KEEL_GW_BAD_REQUEST'],
  ['a bare LF ending the request line', 'GET / HTTP/1.1\nHost: a\r\n\r\n', 'KEEL_GW_BAD_REQUEST'],
  ['a bare CR in a value', 'GET / HTTP/1.1\r\nHost: a\r\nX: 1\r2\r\n\r\n', 'KEEL_GW_BAD_REQUEST'],
  ['obs-fold (§5.2)', 'GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n 2\r\n\r\n', 'KEEL_GW_BAD_REQUEST'],
  ['whitespace before the colon (§5.1)', 'GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n', 'KEEL_GW_BAD_REQUEST'],
  ['TE not ending in chunked (§6.3 ¶4)', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n', 'KEEL_GW_BAD_REQUEST'],
  ['TE chunked twice', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n', 'KEEL_GW_BAD_REQUEST'],
  ['TE with an unknown coding only', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n', 'KEEL_GW_BAD_REQUEST'],
  ['TE in HTTP/1.0 (§6.1)', 'POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n', 'KEEL_GW_BAD_REQUEST'],
  ['no Host in HTTP/1.1 (§3.2)', 'GET / HTTP/1.1\r\nX: 1\r\n\r\n', 'KEEL_GW_BAD_REQUEST'],
  ['two Hosts', 'GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n', 'KEEL_GW_BAD_REQUEST'],
  ['two spaces in the request line (§3)', 'GET  / HTTP/1.1\r\nHost: a\r\n\r\n', 'KEEL_GW_BAD_REQUEST'],
  ['an unknown version', 'GET / HTTP/1.2\r\nHost: a\r\n\r\n', 'KEEL_GW_BAD_REQUEST'],
  ['a control character in the target', 'GET /\x01 HTTP/1.1\r\nHost: a\r\n\r\n', 'KEEL_GW_BAD_REQUEST'],
  ['a NUL in a value', 'GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n', 'KEEL_GW_BAD_REQUEST'],
  ['a field without a colon', 'GET / HTTP/1.1\r\nHost: a\r\nnocolon\r\n\r\n', 'KEEL_GW_BAD_REQUEST'],
  ['too many fields', `GET / HTTP/1.1\r\nHost: a\r\n${'X: 1\r\n'.repeat(200)}\r\n`, 'KEEL_GW_HEADERS_TOO_LARGE'],
  ['a head over the byte limit', `GET / HTTP/1.1\r\nHost: a\r\nX: ${'y'.repeat(MAX)}\r\n\r\n`, 'KEEL_GW_HEADERS_TOO_LARGE'],
];

test('RFC 9112 smuggling and malformed-head cases are refused with a typed code', () => {
  for (const [name, text, code] of REFUSED) assert.equal(codeOf(() => parse(text)), code, name);
});

test('valid heads parse: framing, repeated fields joined, Connection tokens, leading CRLF skipped', () => {
  const chunked = parse('\r\nPOST /up?q=1 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\nX-A: 1\r\nx-a: 2\r\nConnection: close, X-Private\r\n\r\n')!;
  assert.equal(chunked.method, 'POST');
  assert.equal(chunked.target, '/up?q=1');
  assert.equal(chunked.framing, 'chunked');
  assert.equal(chunked.headers['x-a'], '1, 2');
  assert.equal(chunked.close, true);
  assert.deepEqual(chunked.connectionTokens, ['close', 'x-private']);
  assert.equal(parse('GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 12\r\n\r\n')!.framing, 12);
  assert.equal(parse('GET / HTTP/1.0\r\n\r\n')!.close, true, 'HTTP/1.0 closes unless keep-alive');
  assert.equal(parse('GET / HTTP/1.1\r\nHost: a\r\n'), undefined, 'incomplete');
});

test('chunked framing: valid bodies end where they should, invalid chunk sizes and missing CRLFs are refused', () => {
  const body = (text: string) => {
    const framing = new ChunkedFraming();
    const buffer = Buffer.from(text, 'latin1');
    const taken = framing.consume(buffer, 0);
    return { taken, done: framing.done, payload: framing.payloadBytes };
  };
  assert.deepEqual(body('5\r\nhello\r\n0\r\n\r\nNEXT'), { taken: 15, done: true, payload: 5 });
  assert.deepEqual(body('A;ext=1\r\n0123456789\r\n0\r\nX-Trailer: 1\r\n\r\n'), { taken: 40, done: true, payload: 10 });
  for (const bad of ['-5\r\nhello\r\n0\r\n\r\n', ' 5\r\nhello\r\n', '5 \r\nhello\r\n', 'zz\r\n', '5\nhello\r\n', '5\r\nhelloX\r\n', '0\r\n\n', 'fffffffffffffff\r\n', '5\r\nhello\r\n0\r\nX: 1\n\r\n']) {
    assert.equal(codeOf(() => body(bad)), 'KEEL_GW_BAD_REQUEST', JSON.stringify(bad));
  }
});

const token = fc.stringMatching(/^[a-z][a-z0-9-]{0,15}$/).filter((name) => !['host', 'content-length', 'transfer-encoding', 'connection'].includes(name));
const value = fc.stringMatching(/^[!-~]([ -~]{0,30}[!-~])?$/);
const validRequest = fc.record({
  method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH'),
  path: fc.stringMatching(/^\/[a-zA-Z0-9/._~%?=&-]{0,40}$/),
  fields: fc.array(fc.tuple(token, value), { maxLength: 20 }),
  chunks: fc.array(fc.uint8Array({ minLength: 1, maxLength: 40 }), { maxLength: 5 }),
});

test('fast-check: any split of a valid request into pieces parses the same as the whole, and the body ends at the same byte', () => {
  fc.assert(fc.property(validRequest, fc.array(fc.nat(), { maxLength: 8 }), (request, cutPoints) => {
    const head = `${request.method} ${request.path} HTTP/1.1\r\nHost: h\r\n${request.fields.map(([n, v]) => `${n}: ${v}\r\n`).join('')}Transfer-Encoding: chunked\r\n\r\n`;
    const body = Buffer.concat([...request.chunks.map((c) => Buffer.concat([Buffer.from(`${c.length.toString(16)}\r\n`), Buffer.from(c), Buffer.from('\r\n')])), Buffer.from('0\r\n\r\n')]);
    const whole = Buffer.concat([Buffer.from(head, 'latin1'), body, Buffer.from('GET /next HTTP/1.1\r\n')]);
    const reference = parse(whole.toString('latin1'))!;
    // feed the bytes in pieces, as a socket would: grow the buffer until the head ends, then feed the rest to the framing
    const cuts = [...new Set(cutPoints.map((p) => p % whole.length))].sort((a, b) => a - b);
    let held = Buffer.alloc(0);
    let headEnd = -1;
    const framing = new ChunkedFraming();
    let bodyTaken = 0;
    let previous = 0;
    for (const cut of [...cuts, whole.length]) {
      let piece = whole.subarray(previous, cut);
      previous = cut;
      if (headEnd === -1) {
        held = Buffer.concat([held, piece]);
        headEnd = findHeadEnd(held, 0, MAX);
        if (headEnd === -1) continue;
        const parsed = parseRequestHead(held.subarray(0, headEnd));
        assert.deepEqual(parsed.headers, reference.headers);
        assert.equal(parsed.target, reference.target);
        piece = held.subarray(headEnd);
      }
      if (!framing.done) bodyTaken += framing.consume(piece, 0);
    }
    assert.equal(framing.done, true);
    assert.equal(bodyTaken, body.length);
  }), { numRuns: 300, seed: 17 });
});

test('status lines: HTTP/1.0 or 1.1, a three-digit status from 100, then a space or the line end; anything else refused', () => {
  const status = (line: string) => parseResponseHead(Buffer.from(`${line}\r\ncontent-length: 0\r\n\r\n`, 'latin1'), 'GET');
  assert.equal(status('HTTP/1.1 200 OK').status, 200);
  assert.equal(status('HTTP/1.1 204').status, 204);
  assert.equal(status('HTTP/1.0 503 Service Unavailable').minorVersion, 0);
  assert.equal(status('HTTP/1.1 599 ').status, 599);
  for (const line of ['HTTP/1.2 200 OK', 'HTTP/2.0 200 OK', 'HTTPS1.1 200 OK', 'http/1.1 200 OK', 'HTTP/1.1 099 Low', 'HTTP/1.1 20 OK', 'HTTP/1.1 2000 OK',
    'HTTP/1.1 20x OK', 'HTTP/1.1  200 OK', 'HTTP/1.1\t200 OK', 'HTTP/1.1 200\tOK', 'HTTP/1.1', '']) {
    assert.equal(codeOf(() => status(line)), 'KEEL_GW_BAD_REQUEST', JSON.stringify(line));
  }
});

const COMMON = ['host', 'content-length', 'connection', 'keep-alive', 'user-agent', 'accept', 'x-forwarded-for', 'via', 'te', 'cookie', 'date'];
const anyCase = (name: string) => fc.array(fc.boolean(), { minLength: name.length, maxLength: name.length })
  .map((upper) => [...name].map((char, index) => (upper[index] ? char.toUpperCase() : char)).join(''));
const fieldName = fc.oneof(fc.constantFrom(...COMMON).chain(anyCase), fc.stringMatching(/^[A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]{0,14}$/));

test('fast-check: field names in any case come out lowercased, common ones or not, and name the same fields as headers', () => {
  fc.assert(fc.property(fc.array(fieldName, { maxLength: 12 }), (names) => {
    const kept = names.filter((name) => !['host', 'content-length', 'transfer-encoding', 'connection', 'expect', 'upgrade'].includes(name.toLowerCase()));
    const head = parse(`GET / HTTP/1.1\r\nHost: a\r\n${kept.map((name, index) => `${name}: v${index}\r\n`).join('')}\r\n`)!;
    assert.deepEqual(head.names, ['host', ...kept.map((name) => name.toLowerCase())]);
    for (const name of kept) assert.ok(head.headers[name.toLowerCase()]?.startsWith('v'));
  }));
});
