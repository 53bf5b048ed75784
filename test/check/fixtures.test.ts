import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { checkHistory, readHistoryFile } from '../../src/check/index.js';

const fixtures = fileURLToPath(new URL('./fixtures/', import.meta.url));

test('every Jepsen etcd history gives its published verdict', () => {
  const expected = new Map(readFileSync(`${fixtures}jepsen-etcd/EXPECTED`, 'utf8').trim().split('\n').map((line) => line.split(/\s+/) as [string, string]));
  const files = readdirSync(`${fixtures}jepsen-etcd`).filter((file) => file.endsWith('.log'));
  assert.equal(files.length, expected.size);
  for (const file of files) {
    const result = checkHistory(readHistoryFile(`${fixtures}jepsen-etcd/${file}`), { minimize: false });
    assert.equal(result.model, 'cas-register');
    assert.equal(result.verdict, expected.get(file) === 'linearizable' ? 'ok' : 'violation', file);
  }
});

test('every kv history gives the verdict in its name, and a bad one a small counterexample on one key', () => {
  for (const file of readdirSync(`${fixtures}kv`)) {
    const result = checkHistory(readHistoryFile(`${fixtures}kv/${file}`));
    assert.equal(result.model, 'kv');
    assert.equal(result.verdict, file.includes('-ok') ? 'ok' : 'violation', file);
    if (result.counterexample !== undefined) {
      assert.ok(result.counterexample.operations.length > 0 && result.counterexample.operations.length <= 10, `${file}: ${result.counterexample.operations.length} operations`);
      assert.ok(result.counterexample.operations.every((operation) => operation.key === result.counterexample?.key));
    }
  }
});

test('a Jepsen violation shrinks to a counterexample that is itself not linearizable', () => {
  const history = readHistoryFile(`${fixtures}jepsen-etcd/etcd_000.log`);
  const result = checkHistory(history);
  assert.equal(result.verdict, 'violation');
  const counterexample = result.counterexample;
  assert.ok(counterexample !== undefined);
  assert.ok(counterexample.operations.length < 30, `${counterexample.operations.length} operations`);
  assert.ok(counterexample.longestPrefix !== undefined && counterexample.longestPrefix > 0);
  const again = checkHistory({ operations: counterexample.operations, source: 'counterexample' }, { minimize: false });
  assert.equal(again.verdict, 'violation');
});
