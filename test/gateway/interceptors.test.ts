import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { hostWithoutPort, pathOf } from '../../src/gateway/interceptors.js';

test('fast-check: hostWithoutPort and pathOf answer as the regex and split they replace', () => {
  const hostChar = fc.constantFrom(...'aZ9.:-[]x'.split(''));
  fc.assert(fc.property(fc.array(hostChar, { maxLength: 12 }).map((chars) => chars.join('')), (host) => {
    assert.equal(hostWithoutPort(host), host.replace(/:\d+$/, '').toLowerCase());
  }));
  fc.assert(fc.property(fc.string({ maxLength: 20 }), (url) => {
    assert.equal(pathOf(url), url.split('?')[0] ?? '/');
  }));
  assert.equal(hostWithoutPort('[::1]:8080'), '[::1]');
  assert.equal(hostWithoutPort('Example.COM:'), 'example.com:');
});
