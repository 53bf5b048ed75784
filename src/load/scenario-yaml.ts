/**
 * The YAML form for simple tests: `options` (as a module's) and `requests`,
 * each iteration sending them in order and checking each response.
 *
 *   options: { vus: 10, duration: 30s, thresholds: { http_req_duration: ['p(99)<200'] } }
 *   requests:
 *     - url: http://127.0.0.1:8080/health
 *       method: GET
 *       headers: { accept: application/json }
 *       checks: { status: 200, bodyIncludes: ok, durationMsBelow: 100 }
 *
 * Errors name the line and the field.
 */
import { z } from 'zod';
import { parseYamlValidated } from '../config/yaml-validated.js';
import { badInput } from './errors.js';
import { formatIssues, optionsSchema, type Options } from './options.js';
import type { VU } from './vu.js';

const requestSchema = z.strictObject({
  url: z.url({ protocol: /^https?$/ }),
  method: z.enum(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS']).default('GET'),
  headers: z.record(z.string(), z.string()).optional(),
  body: z.union([z.string(), z.record(z.string(), z.unknown())]).optional(),
  name: z.string().optional(),
  checks: z
    .strictObject({
      status: z.union([z.number().int().min(100).max(599), z.array(z.number().int().min(100).max(599)).min(1)]).optional(),
      bodyIncludes: z.string().optional(),
      durationMsBelow: z.number().positive().optional(),
    })
    .optional(),
});

const fileSchema = z.strictObject({
  options: optionsSchema.default({}),
  requests: z.array(requestSchema).min(1).max(100),
});

export type YamlRequest = z.infer<typeof requestSchema>;

export interface YamlScenario {
  readonly options: Options;
  readonly requests: readonly YamlRequest[];
}

/** Parses a YAML scenario; `file` names it in errors. */
export function parseYamlScenario(text: string, file: string): YamlScenario {
  return parseYamlValidated(text, file, fileSchema, { fail: badInput, formatIssues });
}

/** The iteration a YAML scenario runs: its requests in order, each checked. */
export function yamlIteration(scenario: YamlScenario): (vu: VU) => Promise<void> {
  return async (vu) => {
    for (const request of scenario.requests) {
      const body = request.body === undefined ? undefined : typeof request.body === 'string' ? request.body : JSON.stringify(request.body);
      const tags = request.name === undefined ? undefined : { name: request.name };
      const response = await vu.http.request(request.method, request.url, body, { headers: request.headers, tags });
      const checks = request.checks;
      if (checks === undefined) continue;
      const label = request.name ?? `${request.method} ${request.url}`;
      const predicates: Record<string, (value: typeof response) => boolean> = {};
      if (checks.status !== undefined) {
        const statuses = Array.isArray(checks.status) ? checks.status : [checks.status];
        predicates[`${label} status ${statuses.join('|')}`] = (value) => statuses.includes(value.status);
      }
      if (checks.bodyIncludes !== undefined) predicates[`${label} body includes ${JSON.stringify(checks.bodyIncludes)}`] = (value) => value.body.includes(checks.bodyIncludes!);
      if (checks.durationMsBelow !== undefined) predicates[`${label} under ${checks.durationMsBelow}ms`] = (value) => value.durationMs < checks.durationMsBelow!;
      vu.check(response, predicates);
    }
  };
}
