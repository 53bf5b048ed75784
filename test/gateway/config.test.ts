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
