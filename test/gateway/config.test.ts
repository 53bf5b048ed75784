import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GatewayConfigError, GatewayError } from '../../src/gateway/errors.js';
import { parseGatewayYaml } from '../../src/gateway/config.js';

const valid = `
listeners: [{ port: 8080 }]
routes:
  - name: api
    match: { prefix: /api }
    cluster: api
clusters:
  api:
    endpoints: [{ address: "127.0.0.1:9000", zone: a }]
`;

function issuesOf(text: string): readonly string[] {
  try {
    parseGatewayYaml(text);
  } catch (error) {
    assert.ok(GatewayError.is(error));
    assert.equal(error.code, 'KEEL_GW_CONFIG_INVALID');
    return (error as GatewayConfigError).issues;
  }
  assert.fail('expected a config error');
}

test('a minimal config parses and gets defaults', () => {
  const config = parseGatewayYaml(valid);
  assert.equal(config.routes[0]?.perTryTimeoutMs, 15_000);
  assert.equal(config.clusters.api?.balancer, 'round-robin');
  assert.equal(config.clusters.api?.overprovisioningFactor, 1.4);
  assert.equal(config.limits.headersTimeoutMs, 10_000);
  assert.equal(config.criticality.default, 'CRITICAL');
});

test('errors name the field', () => {
  const issues = issuesOf(valid.replace('address: "127.0.0.1:9000"', 'address: "nope", weight: -1'));
  assert.ok(issues.some((issue) => issue.startsWith('clusters.api.endpoints.0.address:')), issues.join('; '));
  assert.ok(issues.some((issue) => issue.startsWith('clusters.api.endpoints.0.weight:')), issues.join('; '));
});

test('unknown keys, unknown clusters, bad regexes and bad YAML are refused', () => {
  assert.ok(issuesOf(valid.replace('prefix: /api', 'prefx: /api')).some((issue) => issue.startsWith('routes.0.match')));
  assert.ok(issuesOf(valid.replace('cluster: api\n', 'cluster: nowhere\n')).some((issue) => issue.includes('unknown cluster "nowhere"')));
  assert.ok(issuesOf(valid.replace('prefix: /api', 'regex: "(["')).some((issue) => issue.startsWith('routes.0.match.regex')));
  assert.ok(issuesOf('listeners: [').some((issue) => issue.startsWith('(yaml)')));
  assert.ok(issuesOf(valid.replace('listeners: [{ port: 8080 }]', 'listeners: []')).some((issue) => issue.startsWith('listeners')));
});

test('hedge: defaults, and every bad setting refused with its field named', () => {
  const withHedge = (hedge: string, route = '') => valid.replace('    cluster: api\n', `    cluster: api\n${route}    hedge: ${hedge}\n`);
  const hedge = parseGatewayYaml(withHedge('{}')).routes[0]?.hedge;
  assert.deepEqual(hedge, {
    delay: { percentile: 95 }, maxAttempts: 2, budgetPercent: 10, minHedgesPerSecond: 0.1, minDelayMs: 5, initialDelayMs: 100, minSamples: 20, sampleSize: 1_000, extraMethods: [], maxBodyBytes: 65_536,
  });
  assert.equal(parseGatewayYaml(valid).routes[0]?.hedge, undefined, 'off unless asked for');
  assert.deepEqual(parseGatewayYaml(withHedge('{ delay: { fixedMs: 20 } }')).routes[0]?.hedge?.delay, { fixedMs: 20 });
  const cases: Array<[string, RegExp, string?]> = [
    ['{ delay: { percentile: 100 } }', /^routes\.0\.hedge\.delay\.percentile: /],
    ['{ delay: { percentile: 0 } }', /^routes\.0\.hedge\.delay\.percentile: /],
    ['{ delay: { percentile: 95, fixedMs: 10 } }', /^routes\.0\.hedge\.delay: give exactly one of percentile or fixedMs/],
    ['{ delay: { p95: true } }', /^routes\.0\.hedge\.delay: /],
    ['{ maxAttempts: 1 }', /^routes\.0\.hedge\.maxAttempts: /],
    ['{ maxAttempts: 5 }', /^routes\.0\.hedge\.maxAttempts: /],
    ['{ budgetPercent: 101 }', /^routes\.0\.hedge\.budgetPercent: /],
    ['{ extraMethods: [POST] }', /^routes\.0\.hedge\.extraMethods\.0: /],
    ['{ maxBodyBytes: 2000000 }', /^routes\.0\.hedge\.maxBodyBytes: /],
    ['{ minSamples: 50, sampleSize: 10 }', /^routes\.0\.hedge\.minSamples: exceeds sampleSize/],
    ['{ delay: { fixedMs: 500 } }', /^routes\.0\.hedge\.delay\.fixedMs: 500 ms is not below the route's perTryTimeoutMs \(500\)/, '    perTryTimeoutMs: 500\n'],
    ['{ initialDelayMs: 800 }', /^routes\.0\.hedge\.initialDelayMs: 800 ms is not below/, '    perTryTimeoutMs: 500\n'],
  ];
  for (const [text, expected, route] of cases) {
    const issues = issuesOf(withHedge(text, route));
    assert.ok(issues.some((issue) => expected.test(issue)), `${text}: ${issues.join('; ')}`);
  }
});
