import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const SOURCE = new URL('../../src/store/', import.meta.url).pathname;
/** The byte codec the state machine encodes commands and snapshots with is held to the same rules. */
const CODEC_SOURCE = new URL('../../src/codec/', import.meta.url).pathname;
const FORBIDDEN = [/\bDate\b/, /performance\.now/, /Math\.random/, /\bset(Timeout|Interval|Immediate)\b/, /process\./, /from 'node:/, /import\('node:/, /\bBuffer\b/, /crypto\./];

function assertPure(directory: string): number {
  const files = readdirSync(directory).filter((name) => name.endsWith('.ts'));
  for (const name of files) {
    const code = readFileSync(join(directory, name), 'utf8').replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '');
    for (const pattern of FORBIDDEN) assert.doesNotMatch(code, pattern, `${name} uses ${pattern}`);
  }
  return files.length;
}

test('the state machine reads no clock, draws no randomness and imports nothing from node:*', () => {
  assert.ok(assertPure(SOURCE) > 5);
  assert.ok(assertPure(CODEC_SOURCE) > 0);
});
