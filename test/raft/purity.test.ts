import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

// The consensus core stays pure: no clock, no timers, no ambient randomness,
// no node:* imports, no imports from other parts of keel. That is what lets
// the simulator replay a seed bit for bit.
const forbidden = [/Date\.now/, /performance\.now/, /Math\.random/, /setTimeout/, /setInterval/, /setImmediate/, /from\s+['"]node:/, /require\(/, /process\./];
const directory = join(import.meta.dirname, '../../src/raft');

test('src/raft performs no I/O and reads no clock or ambient randomness', () => {
  const files = readdirSync(directory).filter((name) => name.endsWith('.ts'));
  assert.ok(files.length > 5);
  for (const file of files) {
    const text = readFileSync(join(directory, file), 'utf8');
    for (const pattern of forbidden) assert.doesNotMatch(text, pattern, `${file} uses ${pattern}`);
    for (const match of text.matchAll(/from\s+['"]([^'"]+)['"]/g)) {
      assert.ok(match[1]!.startsWith('./'), `${file} imports ${match[1]} from outside src/raft`);
    }
  }
});
