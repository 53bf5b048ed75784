import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatScript, parseScript, runScript } from './scenario.js';

// Scripted protocol scenarios: each file in testdata/ is a readable story of
// commands and the cluster's answers. KEEL_REWRITE=1 regenerates the answers
// (then read the diff before committing it).
const directory = join(import.meta.dirname, 'testdata');
const rewrite = process.env.KEEL_REWRITE === '1';

for (const file of readdirSync(directory).filter((name) => name.endsWith('.txt')).sort()) {
  test(`scenario ${file}`, () => {
    const path = join(directory, file);
    const text = readFileSync(path, 'utf8');
    const actual = formatScript(runScript(parseScript(text)));
    if (rewrite) writeFileSync(path, actual);
    else assert.equal(actual, text);
  });
}
