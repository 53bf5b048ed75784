import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';

test('deploy/kubernetes/load-agents.yaml: an Indexed Job of agents behind a headless Service, bounded in time', () => {
  const documents = parseAllDocuments(readFileSync(join(import.meta.dirname, '../../deploy/kubernetes/load-agents.yaml'), 'utf8')).map((document) => document.toJS() as Record<string, any>);
  const service = documents.find((document) => document.kind === 'Service')!;
  const job = documents.find((document) => document.kind === 'Job')!;
  assert.equal(service.spec.clusterIP, 'None');
  assert.equal(job.spec.completionMode, 'Indexed');
  assert.ok(job.spec.activeDeadlineSeconds > 0);
  assert.equal(job.spec.template.spec.subdomain, service.metadata.name);
  assert.deepEqual(job.spec.template.spec.containers[0].args.slice(0, 3), ['load', 'agent', '--listen']);
  assert.ok(documents.some((document) => document.kind === 'NetworkPolicy'));
});
