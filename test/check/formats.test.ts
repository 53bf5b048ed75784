import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CheckError, detectFormat, parseHistory } from '../../src/check/index.js';

function fault(run: () => unknown): { code: string; line?: number; message: string } {
  try {
    run();
  } catch (error) {
    assert.ok(CheckError.is(error), String(error));
    return error as unknown as { code: string; line?: number; message: string };
  }
  assert.fail('expected an error');
}

test('keel JSONL pairs invocations and completions, cas takes [from, to], unfinished operations become unknown', () => {
  const text = [
    '{"process":1,"type":"invoke","f":"write","key":"a","value":"1-1","time":10}',
    '{"process":2,"type":"invoke","f":"read","key":"a","value":null,"time":11}',
    '{"process":1,"type":"ok","f":"write","key":"a","value":"1-1","time":20}',
    '{"process":2,"type":"ok","f":"read","key":"a","value":"1-1","time":21}',
    '{"process":1,"type":"invoke","f":"cas","key":"a","value":["1-1","1-2"],"time":30}',
    '{"process":3,"type":"invoke","f":"write","key":"a","value":"3-1","time":31}',
    '{"process":1,"type":"info","f":"cas","key":"a","value":["1-1","1-2"],"time":40}',
  ].join('\n');
  assert.equal(detectFormat('h.jsonl', text), 'keel');
  const history = parseHistory('h.jsonl', text);
  assert.equal(history.operations.length, 4);
  const [write, read, cas, open] = history.operations;
  assert.deepEqual([write?.f, write?.type, write?.value, write?.call, write?.ret], ['write', 'ok', '1-1', 10, 20]);
  assert.deepEqual([read?.f, read?.value], ['read', '1-1']);
  assert.deepEqual([cas?.f, cas?.type, cas?.from, cas?.to, cas?.ret], ['cas', 'info', '1-1', '1-2', Number.POSITIVE_INFINITY]);
  assert.deepEqual([open?.f, open?.type, open?.ret], ['write', 'info', Number.POSITIVE_INFINITY]);
});

test('Jepsen log lines: nil reads, :timed-out completions, the line number as time', () => {
  const text = [
    'INFO  jepsen.util - 0\t:invoke\t:read\tnil',
    'INFO  jepsen.util - 1\t:invoke\t:cas\t[1 3]',
    'INFO  jepsen.util - 0\t:ok\t:read\tnil',
    'INFO  jepsen.util - 1\t:info\t:cas\t:timed-out',
  ].join('\n');
  assert.equal(detectFormat('x.log', text), 'jepsen');
  const history = parseHistory('x.log', text);
  assert.deepEqual(history.operations.map((operation) => [operation.f, operation.type, operation.value, operation.call]), [['read', 'ok', null, 1], ['cas', 'info', null, 2]]);
  assert.deepEqual([history.operations[1]?.from, history.operations[1]?.to], [1, 3]);
});

test('EDN maps: keys, strings with spaces, nil values on invocations', () => {
  const text = '{:process 0, :type :invoke, :f :append, :key "4", :value "x 0 1 y"}\n{:process 0, :type :ok, :f :append, :key "4", :value "x 0 1 y"}\n';
  assert.equal(detectFormat('k.txt', text), 'edn');
  const [operation] = parseHistory('k.txt', text).operations;
  assert.deepEqual([operation?.f, operation?.key, operation?.value, operation?.call, operation?.ret], ['append', '4', 'x 0 1 y', 1, 2]);
});

test('malformed lines are typed errors naming the file, the line and the fault', () => {
  const cases: [string, string, 'keel' | 'jepsen' | 'edn', string, number][] = [
    ['not JSON', '{"process":1,"type":"invoke","f":"read","time":1}\n{oops', 'keel', 'KEEL_CHECK_MALFORMED_LINE', 2],
    ['unknown operation', '{"process":1,"type":"invoke","f":"delete","time":1}', 'keel', 'KEEL_CHECK_MALFORMED_LINE', 1],
    ['unknown type', '{"process":1,"type":"done","f":"read","time":1}', 'keel', 'KEEL_CHECK_MALFORMED_LINE', 1],
    ['cas without a pair', '{"process":1,"type":"invoke","f":"cas","value":3,"time":1}', 'keel', 'KEEL_CHECK_MALFORMED_LINE', 1],
    ['bad time', '{"process":1,"type":"invoke","f":"read","time":"soon"}', 'keel', 'KEEL_CHECK_MALFORMED_LINE', 1],
    ['completion without invocation', '{"process":1,"type":"ok","f":"read","value":1,"time":1}', 'keel', 'KEEL_CHECK_UNPAIRED_EVENT', 1],
    ['two open invocations', '{"process":1,"type":"invoke","f":"read","time":1}\n\n{"process":1,"type":"invoke","f":"read","time":2}', 'keel', 'KEEL_CHECK_UNPAIRED_EVENT', 3],
    ['completion of another operation', '{"process":1,"type":"invoke","f":"read","time":1}\n{"process":1,"type":"ok","f":"write","value":1,"time":2}', 'keel', 'KEEL_CHECK_UNPAIRED_EVENT', 2],
    ['jepsen line without tabs', 'INFO  jepsen.util - 0 :invoke :read nil', 'jepsen', 'KEEL_CHECK_MALFORMED_LINE', 1],
    ['jepsen bad value', 'INFO  jepsen.util - 0\t:invoke\t:write\t[1', 'jepsen', 'KEEL_CHECK_MALFORMED_LINE', 1],
    ['edn unterminated string', '{:process 0, :type :invoke, :f :get, :key "4, :value nil}', 'edn', 'KEEL_CHECK_MALFORMED_LINE', 1],
    ['edn not a map', '[:process 0]', 'edn', 'KEEL_CHECK_MALFORMED_LINE', 1],
  ];
  for (const [name, text, format, code, line] of cases) {
    const error = fault(() => parseHistory('bad.txt', text, format));
    assert.equal(error.code, code, name);
    assert.equal(error.line, line, name);
    assert.match(error.message, new RegExp(`^bad\\.txt:${line}: `), name);
  }
  assert.equal(fault(() => parseHistory('odd.txt', 'hello world')).code, 'KEEL_CHECK_UNKNOWN_FORMAT');
  assert.equal(fault(() => parseHistory('empty.txt', '\n\n')).code, 'KEEL_CHECK_UNKNOWN_FORMAT');
});
