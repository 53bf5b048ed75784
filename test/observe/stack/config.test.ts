import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  alertmanagerConfig, collectScrapeTarget, findObserveBinaries, ObserveStackError, parsePromDuration, parseScrapeTarget, parseWebhookUrl, prometheusConfig,
} from '../../../src/observe/stack/index.js';

// The configs keel up --observe writes, checked by the programs that read them (Debian's promtool and amtool).
const root = join(import.meta.dirname, '../../..');
const PROMTOOL = '/usr/bin/promtool';
const AMTOOL = '/usr/bin/amtool';

function scratch(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'keel-observe-config-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const timing = {
  groupWait: parsePromDuration('--alert-group-wait', '1s'),
  groupInterval: parsePromDuration('--alert-group-interval', '2s'),
  repeatInterval: parsePromDuration('--alert-repeat-interval', '4h'),
  resolveTimeout: parsePromDuration('--alert-resolve-timeout', '5m'),
};

test('promtool check config accepts the prometheus.yml keel up --observe writes, with keel-alerts.yaml as a rule file', (t) => {
  if (!existsSync(PROMTOOL)) return t.skip(`${PROMTOOL} is missing: apt-get install prometheus to run this check`);
  const dir = scratch(t);
  mkdirSync(join(dir, 'rules'));
  copyFileSync(join(root, 'deploy/prometheus/keel-alerts.yaml'), join(dir, 'rules/keel-alerts.yaml'));
  const text = prometheusConfig({
    members: [{ id: 'n1', zone: 'a', address: '127.0.0.1:2379' }, { id: 'n2', zone: 'b', address: '127.0.0.1:22379' }],
    gatewayAdmin: '127.0.0.1:9901',
    extraTargets: [parseScrapeTarget('load=127.0.0.1:9464'), parseScrapeTarget('127.0.0.1:9500'), parseScrapeTarget('load=127.0.0.1:9465')],
    scrapeInterval: parsePromDuration('--scrape-interval', '1s'),
    evaluationInterval: parsePromDuration('--evaluation-interval', '1s'),
    ruleFiles: [join(dir, 'rules/keel-alerts.yaml')],
    alertmanager: '127.0.0.1:9093',
  });
  writeFileSync(join(dir, 'prometheus.yml'), text);
  const result = spawnSync(PROMTOOL, ['check', 'config', join(dir, 'prometheus.yml')], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(result.status, 0, `${result.stdout}${result.stderr}`);
  assert.match(result.stdout, /SUCCESS: 8 rules found/);
  // A 1 s interval is also the scrape timeout (Prometheus refuses a timeout above the interval); jobs as documented.
  assert.match(text, /scrape_timeout: 1s/);
  for (const job of ['keel', 'keel-gateway', 'load', 'keel-extra']) assert.match(text, new RegExp(`job_name: ${job}\\n`));
  assert.match(text, /- 127\.0\.0\.1:9464\n\s+- 127\.0\.0\.1:9465/, 'one job for both load targets');
});

test('amtool check-config accepts the alertmanager.yml keel up --observe writes, resolved notifications on', (t) => {
  if (!existsSync(AMTOOL)) return t.skip(`${AMTOOL} is missing: apt-get install prometheus-alertmanager to run this check`);
  const dir = scratch(t);
  const text = alertmanagerConfig('http://127.0.0.1:5001/alerts', timing);
  writeFileSync(join(dir, 'alertmanager.yml'), text);
  const result = spawnSync(AMTOOL, ['check-config', join(dir, 'alertmanager.yml')], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(result.status, 0, `${result.stdout}${result.stderr}`);
  assert.match(text, /send_resolved: true/);
  assert.match(text, /group_wait: 1s/);
});

test('bad --observe options are refused with an error naming the option', () => {
  const refuses = (fn: () => unknown, pattern: RegExp): void => {
    assert.throws(fn, (error: unknown) => ObserveStackError.is(error) && error.code === 'KEEL_OBSERVE_STACK_BAD_INPUT' && pattern.test(error.message));
  };
  refuses(() => parsePromDuration('--scrape-interval', '1 minute'), /^--scrape-interval: "1 minute" is not a duration/);
  refuses(() => parsePromDuration('--scrape-interval', '10ms'), /^--scrape-interval: 10ms is outside/);
  refuses(() => parseScrapeTarget('localhost'), /^--observe-target: "localhost" is not host:port/);
  refuses(() => parseScrapeTarget('127.0.0.1:70000'), /^--observe-target: "127\.0\.0\.1:70000" is not host:port/);
  refuses(() => parseScrapeTarget('keel=127.0.0.1:9000'), /job "keel" is keel up's own/);
  refuses(() => parseScrapeTarget('9job=127.0.0.1:9000'), /job "9job" must be/);
  refuses(() => parseWebhookUrl('not a url'), /^--alert-webhook: "not a url" is not a URL/);
  refuses(() => parseWebhookUrl('ftp://127.0.0.1/x'), /must be http/);
  let targets = collectScrapeTarget('127.0.0.1:9000');
  for (let i = 1; i < 64; i++) targets = collectScrapeTarget(`127.0.0.1:${9000 + i}`, targets);
  refuses(() => collectScrapeTarget('127.0.0.1:9999', targets), /at most 64 targets/);
  assert.deepEqual(parseScrapeTarget('[::1]:9464'), { job: 'keel-extra', address: '[::1]:9464' });
});

test('missing Prometheus or Alertmanager: one error naming each program and its Debian package', (t) => {
  const dir = scratch(t);
  assert.throws(() => findObserveBinaries(dir, []), (error: unknown) => {
    assert.ok(ObserveStackError.is(error));
    assert.equal(error.code, 'KEEL_OBSERVE_STACK_BINARY_MISSING');
    assert.match(error.message, /prometheus \(Debian package prometheus\) and prometheus-alertmanager \(Debian package prometheus-alertmanager\)/);
    assert.match(error.message, /apt-get install prometheus prometheus-alertmanager$/);
    return true;
  });
  // Upstream's name for Alertmanager is found too; then only Prometheus is missing.
  writeFileSync(join(dir, 'alertmanager'), '#!/bin/sh\n');
  chmodSync(join(dir, 'alertmanager'), 0o755);
  assert.throws(() => findObserveBinaries(dir, []), /needs prometheus \(Debian package prometheus\), not found.*apt-get install prometheus$/);
});
