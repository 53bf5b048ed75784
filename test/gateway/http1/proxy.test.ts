import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseResponseHead } from '../../../src/gateway/http1/head-parser.js';
import { spliceHead } from '../../../src/gateway/http1/proxy.js';

const NAMES = ['connection', 'keep-alive', 'via', 'x-a', 'x-b', 'content-type', 'x-private'];

test('fast-check: a spliced head is the first line, the kept field lines in order, the extra lines, the empty line and the tail', () => {
  const field = fc.tuple(fc.constantFrom(...NAMES), fc.stringMatching(/^[a-z0-9]{1,8}$/));
  fc.assert(fc.property(fc.array(field, { maxLength: 10 }), fc.boolean(), fc.uint8Array({ maxLength: 16 }), (fields, http10, tailBytes) => {
    const lines = fields.map(([name, value]) => `${name}: ${value}\r\n`);
    const text = `HTTP/1.${http10 ? 0 : 1} 200 OK\r\ncontent-length: 0\r\n${lines.join('')}\r\n`;
    const head = parseResponseHead(Buffer.from(text, 'latin1'), 'GET');
    const dropped = new Set(['connection', 'keep-alive', 'via']);
    const named = ['x-private'];
    const extra = 'via: 1.1 keel-gateway\r\nx-extra: \u00e9\r\n';
    const firstLine = http10 ? 'HTTP/1.1 200 OK\r\n' : undefined;
    const tail = tailBytes.length === 0 ? undefined : Buffer.from(tailBytes);
    const kept = lines.filter((_, index) => !dropped.has(fields[index]![0]) && !named.includes(fields[index]![0]));
    const expected = Buffer.concat([
      Buffer.from(`HTTP/1.1 200 OK\r\ncontent-length: 0\r\n${kept.join('')}${extra}\r\n`, 'latin1'),
      tail ?? Buffer.alloc(0),
    ]);
    assert.deepEqual(spliceHead(head, dropped, named, extra, firstLine, tail), expected);
  }));
});
