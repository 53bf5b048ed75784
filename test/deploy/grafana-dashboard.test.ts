import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parse } from 'yaml';
import { GatewayMetrics } from '../../src/gateway/metrics.js';
import { NodeMetrics } from '../../src/node/metrics.js';

/**
 * deploy/grafana/keel-dashboard.json has the shape Grafana imports, and
 * every metric its queries name is one keel exports: read from the real
 * registries a member (NodeMetrics) and a gateway (GatewayMetrics) serve
 * on /metrics, not from a list kept by hand. deploy/prometheus/prometheus.yml
 * scrapes both and is valid for promtool where it is installed.
 */
const root = join(import.meta.dirname, '../..');
const PROMTOOL = '/usr/bin/promtool';

interface Target { datasource?: { type?: string; uid?: string }; expr?: unknown; refId?: unknown }
interface Panel { id?: unknown; type?: unknown; title?: unknown; datasource?: { type?: string }; gridPos?: Record<string, unknown>; targets?: Target[] }

function dashboard(): { panels: Panel[]; templating: { list: Array<{ name: string; definition?: string }> }; uid?: unknown; title?: unknown } {
  return JSON.parse(readFileSync(join(root, 'deploy/grafana/keel-dashboard.json'), 'utf8')) as ReturnType<typeof dashboard>;
}

/** Every series name keel serves: the registries' names, histograms with their _bucket, _sum and _count series. */
function exportedNames(): Set<string> {
  const names = new Set<string>();
  for (const registry of [new NodeMetrics().registry, new GatewayMetrics().registry]) {
    for (const metric of registry.getMetricsAsArray() as unknown as Array<{ name: string; type: string }>) {
      names.add(metric.name);
      if (metric.type === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(`${metric.name}${suffix}`);
    }
  }
  return names;
}

const PROMQL_WORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'offset', 'and', 'or', 'unless', 'inf', 'nan']);

/** The metric names a PromQL expression selects: identifiers that are neither functions, keywords, label names nor Grafana variables. */
export function metricNamesOf(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""') // label values
    .replace(/\{[^}]*\}/g, '') // label matchers
    .replace(/\[[^\]]*\]/g, '') // range selectors
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '') // grouping labels
    .replace(/\$\w+/g, ''); // Grafana variables
  const names: string[] = [];
  for (const match of stripped.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const after = stripped.slice(match.index! + match[0].length).trimStart();
    if (after.startsWith('(') || PROMQL_WORDS.has(match[0].toLowerCase())) continue;
    names.push(match[0]);
  }
  return names;
}

test('metricNamesOf finds the selected series and skips functions, grouping labels and variables', () => {
  assert.deepEqual(
    metricNamesOf('histogram_quantile(0.99, sum by (le, instance) (rate(etcd_disk_wal_fsync_duration_seconds_bucket{job=~"$job"}[$__rate_interval])))'),
    ['etcd_disk_wal_fsync_duration_seconds_bucket'],
  );
  assert.deepEqual(metricNamesOf('etcd_server_proposals_committed_total{job="a"} - etcd_server_proposals_applied_total'), ['etcd_server_proposals_committed_total', 'etcd_server_proposals_applied_total']);
  assert.deepEqual(metricNamesOf('count(up == 1) by (job)'), ['up']);
});

test('the Grafana dashboard: panels with a datasource, targets with an expr, unique ids, a gridPos each', () => {
  const board = dashboard();
  assert.equal(typeof board.title, 'string');
  assert.equal(typeof board.uid, 'string');
  assert.ok(board.panels.length >= 20, `${board.panels.length} panels`);
  const ids = board.panels.map((panel) => panel.id);
  assert.ok(ids.every((id) => Number.isInteger(id)), 'integer ids');
  assert.equal(new Set(ids).size, ids.length, 'unique panel ids');
  for (const panel of board.panels) {
    const where = `panel ${String(panel.id)} (${String(panel.title)})`;
    const grid = panel.gridPos ?? {};
    for (const field of ['x', 'y', 'w', 'h']) assert.ok(Number.isInteger(grid[field]) && (grid[field] as number) >= 0, `${where}: gridPos.${field}`);
    assert.ok((grid.x as number) + (grid.w as number) <= 24, `${where}: fits Grafana's 24 columns`);
    if (panel.type === 'row') continue;
    assert.equal(panel.datasource?.type, 'prometheus', `${where}: datasource`);
    assert.ok(Array.isArray(panel.targets) && panel.targets.length > 0, `${where}: targets`);
    const refIds = panel.targets.map((target) => target.refId);
    assert.equal(new Set(refIds).size, refIds.length, `${where}: unique refIds`);
    for (const target of panel.targets) {
      assert.equal(target.datasource?.type, 'prometheus', `${where}: target datasource`);
      assert.ok(typeof target.expr === 'string' && target.expr.length > 0, `${where}: expr`);
    }
  }
});

test('every metric the Grafana dashboard queries is one a keel member or gateway exports', () => {
  const exported = exportedNames();
  const board = dashboard();
  const queried = new Set<string>();
  for (const panel of board.panels) for (const target of panel.targets ?? []) for (const name of metricNamesOf(String(target.expr))) queried.add(name);
  for (const variable of board.templating.list) {
    const match = /label_values\((\w+),/.exec(variable.definition ?? '');
    if (match) queried.add(match[1]!);
  }
  const unknown = [...queried].filter((name) => !exported.has(name));
  assert.deepEqual(unknown, [], 'queried metrics keel does not export');
  // Both parts are on the board: the members' etcd names and the gateway's.
  assert.ok([...queried].some((name) => name.startsWith('etcd_')) && [...queried].some((name) => name.startsWith('keel_gateway_')), [...queried].join(' '));
});

test('deploy/prometheus/prometheus.yml scrapes the members and the gateway, with keel\'s alert rules', (context) => {
  const config = parse(readFileSync(join(root, 'deploy/prometheus/prometheus.yml'), 'utf8')) as { rule_files: string[]; scrape_configs: Array<{ job_name: string; static_configs: Array<{ targets: string[] }> }> };
  const jobs = new Map(config.scrape_configs.map((job) => [job.job_name, job.static_configs.flatMap((entry) => entry.targets)]));
  assert.deepEqual(jobs.get('keel'), ['127.0.0.1:2379', '127.0.0.1:22379', '127.0.0.1:32379'], 'keel up\'s default member ports');
  assert.deepEqual(jobs.get('keel-gateway'), ['127.0.0.1:9901'], 'keel up\'s default gateway admin port');
  assert.deepEqual(config.rule_files, ['keel-alerts.yaml']);
  if (!existsSync(PROMTOOL)) return context.skip(`${PROMTOOL} is missing: apt-get install prometheus to check the config with promtool`);
  const result = spawnSync(PROMTOOL, ['check', 'config', 'deploy/prometheus/prometheus.yml'], { cwd: root, encoding: 'utf8', timeout: 60_000 });
  assert.equal(result.status, 0, `${result.stdout}${result.stderr}`);
});
