import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPinoLogger, errorFields, parseLogFormat, prettyLine } from '../../src/node/logger.js';
import { NodeConfigError } from '../../src/node/errors.js';

/** The one logger factory: JSON lines with ISO time, or readable pretty lines; expected errors without a stack. */

function collector(): { lines: string[]; write: (line: string) => void } {
  const lines: string[] = [];
  return { lines, write: (line) => lines.push(line) };
}

test('json: one line per record, ISO timestamp, bindings and fields', () => {
  const out = collector();
  const log = createPinoLogger({ level: 'info', bindings: { member: 'n1' }, write: out.write });
  log.info({ count: 3 }, 'hello');
  log.debug('below the level');
  assert.equal(out.lines.length, 1);
  assert.ok(out.lines[0]!.endsWith('\n'));
  const record = JSON.parse(out.lines[0]!) as Record<string, unknown>;
  assert.match(String(record.time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  assert.equal(record.level, 30);
  assert.equal(record.msg, 'hello');
  assert.equal(record.member, 'n1');
  assert.equal(record.count, 3);
});

test('pretty: HH:MM:SS.mmm LEVEL message key=value, strings with spaces quoted', () => {
  const out = collector();
  const log = createPinoLogger({ level: 'info', format: 'pretty', bindings: { member: 'n1' }, write: out.write });
  log.warn({ address: '127.0.0.1:2379', reason: 'two words', ids: [1, 2] }, 'leader changed');
  assert.equal(out.lines.length, 1);
  assert.match(out.lines[0]!, /^\d\d:\d\d:\d\d\.\d{3} WARN  leader changed member=n1 address=127\.0\.0\.1:2379 reason="two words" ids=\[1,2\]\n$/);
});

test('pretty: an unexpected error keeps its stack, indented under the line', () => {
  const out = collector();
  const log = createPinoLogger({ level: 'info', format: 'pretty', write: out.write });
  log.error(errorFields(new TypeError('boom')), 'request failed');
  const [head, ...stack] = out.lines[0]!.trimEnd().split('\n');
  assert.match(head!, /ERROR request failed err=boom$/);
  assert.ok(stack.length > 1, 'stack lines follow');
  assert.ok(stack.every((line) => line.startsWith('    ')));
  assert.match(stack[0]!, /TypeError: boom/);
});

test('errorFields: a typed keel error is its code and message; anything else keeps its stack', () => {
  const expected = errorFields(new NodeConfigError('tick-ms must be positive'));
  assert.deepEqual(expected, { code: 'KEEL_NODE_CONFIG_INVALID', error: 'tick-ms must be positive' });
  const busy = Object.assign(new Error('listen EADDRINUSE: address already in use 127.0.0.1:2380'), { code: 'EADDRINUSE', syscall: 'listen' });
  assert.deepEqual(errorFields(busy), { code: 'EADDRINUSE', error: 'listen EADDRINUSE: address already in use 127.0.0.1:2380' });
  assert.ok('err' in errorFields(Object.assign(new Error('no syscall'), { code: 'ERR_SOMETHING' })), 'a code alone does not make an error expected');
  const out = collector();
  createPinoLogger({ level: 'info', write: out.write }).error(errorFields(new Error('unexpected')), 'failed');
  const record = JSON.parse(out.lines[0]!) as { err: { stack: string; message: string } };
  assert.equal(record.err.message, 'unexpected');
  assert.match(record.err.stack, /Error: unexpected\n\s+at /);
});

test('prettyLine passes a line that is not JSON through', () => {
  assert.equal(prettyLine('plain text'), 'plain text\n');
});

test('parseLogFormat accepts json and pretty and refuses anything else', () => {
  assert.equal(parseLogFormat('json'), 'json');
  assert.equal(parseLogFormat('pretty'), 'pretty');
  assert.throws(() => parseLogFormat('xml'), /must be one of json, pretty/);
});
