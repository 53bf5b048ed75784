import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const SOURCE = new URL('../../src/store/', import.meta.url).pathname;
const FORBIDDEN = [/\bDate\b/, /performance\.now/, /Math\.random/, /\bset(Timeout|Interval|Immediate)\b/, /process\./, /from 'node:/, /import\('node:/, /\bBuffer\b/, /crypto\./];

test('the state machine reads no clock, draws no randomness and imports nothing from node:*', () => {
  const files = readdirSync(SOURCE).filter((name) => name.endsWith('.ts'));
  assert.ok(files.length > 5);
  for (const name of files) {
    const code = readFileSync(join(SOURCE, name), 'utf8').replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '');
    for (const pattern of FORBIDDEN) assert.doesNotMatch(code, pattern, `${name} uses ${pattern}`);
  }
});
