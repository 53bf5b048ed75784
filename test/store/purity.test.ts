import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const SOURCE = new URL('../../src/store/', import.meta.url).pathname;
/** The byte codec the state machine encodes commands and snapshots with is held to the same rules. */
const CODEC_SOURCE = new URL('../../src/codec/', import.meta.url).pathname;
const BUFFER = /\bBuffer\b/;
const FORBIDDEN = [/\bDate\b/, /performance\.now/, /Math\.random/, /\bset(Timeout|Interval|Immediate)\b/, /process\./, /from 'node:/, /import\('node:/, BUFFER, /crypto\./];

/**
 * The codec's latin1.ts may name Buffer, found on globalThis (never
 * imported), for its native Latin-1 conversions: pure functions of their
 * input, where a loop of JavaScript per byte was 12% of a member's CPU at
 * scale (issue 14). Its fill-bytes.ts names it too, for large arrays
 * without the zero fill that every caller overwrites before reading (a
 * zeroed MiB took up to 2 ms of the loop).
 */
const ALLOWED: Readonly<Record<string, readonly RegExp[]>> = { 'latin1.ts': [BUFFER], 'fill-bytes.ts': [BUFFER] };

function assertPure(directory: string): number {
  const files = readdirSync(directory).filter((name) => name.endsWith('.ts'));
  for (const name of files) {
    const code = readFileSync(join(directory, name), 'utf8').replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '');
    const allowed = ALLOWED[name] ?? [];
    for (const pattern of FORBIDDEN.filter((forbidden) => !allowed.includes(forbidden))) {
      assert.doesNotMatch(code, pattern, `${name} uses ${pattern}`);
    }
  }
  return files.length;
}

test('the state machine reads no clock, draws no randomness and imports nothing from node:*', () => {
  assert.ok(assertPure(SOURCE) > 5);
  assert.ok(assertPure(CODEC_SOURCE) > 0);
});
