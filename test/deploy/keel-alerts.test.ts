import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

/** deploy/prometheus/keel-alerts.yaml is valid for Prometheus, and its alerts fire on the series keel exports (promtool test rules). */
const root = join(import.meta.dirname, '../..');
const PROMTOOL = '/usr/bin/promtool';

function promtool(...args: string[]): { status: number | null; output: string } {
  const result = spawnSync(PROMTOOL, args, { cwd: root, encoding: 'utf8', timeout: 60_000 });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

test('promtool check rules accepts deploy/prometheus/keel-alerts.yaml', (context) => {
  if (!existsSync(PROMTOOL)) return context.skip(`${PROMTOOL} is missing: apt-get install prometheus to run this check`);
  const result = promtool('check', 'rules', 'deploy/prometheus/keel-alerts.yaml');
  assert.equal(result.status, 0, result.output);
  assert.match(result.output, /SUCCESS: 8 rules found/);
});

test('promtool test rules: the alerts fire on keel-shaped series', (context) => {
  if (!existsSync(PROMTOOL)) return context.skip(`${PROMTOOL} is missing: apt-get install prometheus to run this check`);
  const result = promtool('test', 'rules', 'test/deploy/keel-alerts.promtest.yaml');
  assert.equal(result.status, 0, result.output);
});
