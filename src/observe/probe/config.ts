/**
 * The checks file: a YAML list of synthetic checks, validated with zod. A
 * malformed file fails with one message naming each bad field by its path
 * (`checks[2].http.expect.status: expected a number`) and its line.
 *
 *   checks:
 *     - name: gateway-readyz
 *       timeout: 2s
 *       labels: { team: storage }
 *       http:
 *         url: http://127.0.0.1:8080/readyz
 *         expect: { status: 200, body: { contains: ok }, maxMs: 500 }
 *     - name: kv-roundtrip
 *       kv: { endpoint: http://127.0.0.1:2379, prefix: /keel-probe/, delete: true }
 *     - name: member-grpc-health
 *       grpcHealth: { address: 127.0.0.1:50051 }
 *     - name: peer-port
 *       tcp: { address: 127.0.0.1:2380 }
 */
import { readFileSync, statSync } from 'node:fs';
import { z } from 'zod';
import { parseDurationMs } from './duration.js';
import { parseYamlValidated } from '../../config/yaml-validated.js';
import { badChecksFile } from './errors.js';
import { parseJsonPath, type PathSegment } from './json-path.js';
import {
  CHECKS_FILE_BYTES_MAX,
  CHECKS_MAX,
  JSON_ASSERTIONS_MAX,
  LABELS_MAX,
  PATTERN_LENGTH_MAX,
  TIMEOUT_MS_DEFAULT,
  TIMEOUT_MS_MAX,
} from './limits.js';

/** Labels every series of a check carries already, or that Prometheus sets on scrape. */
export const RESERVED_LABELS: readonly string[] = ['probe', 'job', 'instance'];
const ISSUES_SHOWN_MAX = 10;

const pattern = z
  .string()
  .max(PATTERN_LENGTH_MAX)
  .transform((source, context) => {
    try {
      return new RegExp(source);
    } catch (error) {
      context.addIssue({ code: 'custom', message: `not a regular expression: ${(error as Error).message}` });
      return z.NEVER;
    }
  });

const duration = z.string().transform((text, context) => {
  const ms = parseDurationMs(text);
  if (ms === undefined || ms <= 0) {
    context.addIssue({ code: 'custom', message: `'${text}' is not a positive duration (write 500ms, 5s or 1m)` });
    return z.NEVER;
  }
  if (ms > TIMEOUT_MS_MAX) {
    context.addIssue({ code: 'custom', message: `${text} is longer than the limit of ${TIMEOUT_MS_MAX / 60_000}m` });
    return z.NEVER;
  }
  return ms;
});

/** `host:port` or `[ipv6]:port`. */
const address = z.string().refine((text) => splitAddress(text) !== undefined, { message: 'expected host:port (a port from 1 to 65535)' });

const httpUrl = z.url({ protocol: /^https?$/, error: 'expected an http:// or https:// URL' });

const statusCode = z.number({ error: 'expected a number' }).int().min(100).max(599);

const stringMatcher = z
  .strictObject({ equals: z.string().optional(), matches: pattern.optional() })
  .refine((matcher) => matcher.equals !== undefined || matcher.matches !== undefined, { message: 'give equals or matches' });

const jsonAssertion = z
  .strictObject({
    path: z.string().transform((path, context) => {
      const segments = parseJsonPath(path);
      if (typeof segments === 'string') {
        context.addIssue({ code: 'custom', message: segments });
        return z.NEVER;
      }
      return { text: path, segments: segments as readonly PathSegment[] };
    }),
    equals: z.unknown().optional(),
    matches: pattern.optional(),
    exists: z.boolean().optional(),
    gt: z.number().optional(),
    lt: z.number().optional(),
  })
  .refine((assertion) => ['equals', 'matches', 'exists', 'gt', 'lt'].some((key) => Object.hasOwn(assertion, key)), {
    message: 'give at least one of equals, matches, exists, gt, lt',
  });

const httpCheck = z.strictObject({
  url: httpUrl,
  method: z.enum(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']).default('GET'),
  headers: z.record(z.string().min(1), z.string()).optional(),
  /** A string is sent as is; an object or list is sent as JSON (with content-type application/json unless headers name one). */
  body: z.union([z.string(), z.record(z.string(), z.unknown()), z.array(z.unknown())], { error: 'expected a string, or an object or list to send as JSON' }).optional(),
  expect: z
    .strictObject({
      status: z.union([statusCode, z.array(statusCode).min(1)], { error: 'expected a number (a status code) or a list of them' }).optional(),
      headers: z.record(z.string().min(1), z.union([z.string(), stringMatcher], { error: 'expected a string or { equals, matches }' })).optional(),
      json: z.array(jsonAssertion).max(JSON_ASSERTIONS_MAX).optional(),
      body: z
        .strictObject({ contains: z.union([z.string(), z.array(z.string())]).optional(), matches: pattern.optional() })
        .optional(),
      maxMs: z.number({ error: 'expected a number' }).positive().optional(),
    })
    .default({}),
});

const kvCheck = z.strictObject({
  /** A keel member, `keel up`'s gateway or an etcd member: its JSON gateway (`/v3/kv/*`). */
  endpoint: httpUrl,
  /** The check writes one key, `prefix + name`, so the keyspace does not grow when delete is off. */
  prefix: z.string().min(1).default('/keel-probe/'),
  delete: z.boolean().default(false),
});

const grpcHealthCheck = z.strictObject({
  address,
  /** The service name asked about; '' asks about the server as a whole. */
  service: z.string().default(''),
});

const tcpCheck = z.strictObject({ address });

const KINDS = ['http', 'kv', 'grpcHealth', 'tcp'] as const;

const check = z
  .strictObject({
    name: z.string().min(1).max(128),
    timeout: duration.optional(),
    labels: z
      .record(
        z.string().regex(/^[a-zA-Z_][a-zA-Z0-9_]*$/, 'label names are [a-zA-Z_][a-zA-Z0-9_]*').refine((name) => !name.startsWith('__') && !RESERVED_LABELS.includes(name), {
          message: `reserved label name (${RESERVED_LABELS.join(', ')} and __*)`,
        }),
        z.string(),
      )
      .refine((labels) => Object.keys(labels).length <= LABELS_MAX, { message: `at most ${LABELS_MAX} labels` })
      .optional(),
    http: httpCheck.optional(),
    kv: kvCheck.optional(),
    grpcHealth: grpcHealthCheck.optional(),
    tcp: tcpCheck.optional(),
  })
  .superRefine((value, context) => {
    const given = KINDS.filter((kind) => value[kind] !== undefined);
    if (given.length !== 1) context.addIssue({ code: 'custom', message: `give exactly one of ${KINDS.join(', ')} (found ${given.length === 0 ? 'none' : given.join(', ')})` });
  });

const checksFile = z
  .strictObject({ checks: z.array(check).min(1).max(CHECKS_MAX) })
  .superRefine((file, context) => {
    const seen = new Set<string>();
    file.checks.forEach((item, index) => {
      if (seen.has(item.name)) context.addIssue({ code: 'custom', path: ['checks', index, 'name'], message: `duplicate check name '${item.name}'` });
      seen.add(item.name);
    });
  });

type RawCheck = z.output<typeof check>;
export type HttpCheckSpec = z.output<typeof httpCheck>;
export type HttpExpect = HttpCheckSpec['expect'];
export type JsonAssertion = z.output<typeof jsonAssertion>;
export type StringMatcher = z.output<typeof stringMatcher>;
export type KvCheckSpec = z.output<typeof kvCheck>;
export type GrpcHealthCheckSpec = z.output<typeof grpcHealthCheck>;
export type TcpCheckSpec = z.output<typeof tcpCheck>;

interface CheckBase {
  readonly name: string;
  readonly timeoutMs: number;
  readonly labels: Readonly<Record<string, string>>;
}

/** One validated check: a name, a timeout, labels and exactly one kind. */
export type Check =
  | (CheckBase & { readonly kind: 'http'; readonly http: HttpCheckSpec })
  | (CheckBase & { readonly kind: 'kv'; readonly kv: KvCheckSpec })
  | (CheckBase & { readonly kind: 'grpcHealth'; readonly grpcHealth: GrpcHealthCheckSpec })
  | (CheckBase & { readonly kind: 'tcp'; readonly tcp: TcpCheckSpec });

export type CheckKind = Check['kind'];

/** Parses a checks file's text; `file` names it in errors (typed ProbeError KEEL_PROBE_BAD_CHECKS_FILE). */
export function parseChecks(text: string, file: string): Check[] {
  return parseYamlValidated(text, file, checksFile, { fail: badChecksFile, formatIssues }).checks.map(toCheck);
}

/** Reads and parses a checks file; an unreadable file is a bad checks file too (exit code 2). */
export function readChecksFile(file: string): Check[] {
  let text: string;
  try {
    const size = statSync(file).size;
    if (size > CHECKS_FILE_BYTES_MAX) throw badChecksFile(`${file}: ${size} bytes, more than the limit of ${CHECKS_FILE_BYTES_MAX}`);
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if (error instanceof Error && 'code' in error && typeof error.code === 'string' && !error.code.startsWith('KEEL_')) throw badChecksFile(`${file}: cannot read: ${error.message}`);
    throw error;
  }
  return parseChecks(text, file);
}

function toCheck(raw: RawCheck): Check {
  const base: CheckBase = { name: raw.name, timeoutMs: raw.timeout ?? TIMEOUT_MS_DEFAULT, labels: raw.labels ?? {} };
  if (raw.http !== undefined) return { ...base, kind: 'http', http: raw.http };
  if (raw.kv !== undefined) return { ...base, kind: 'kv', kv: raw.kv };
  if (raw.grpcHealth !== undefined) return { ...base, kind: 'grpcHealth', grpcHealth: raw.grpcHealth };
  return { ...base, kind: 'tcp', tcp: raw.tcp! };
}

/** `checks[2].http.expect.status`: indexes in brackets, names after dots. */
export function formatPath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return '(top level)';
  return path.map((segment, index) => (typeof segment === 'number' ? `[${segment}]` : index === 0 ? String(segment) : `.${String(segment)}`)).join('');
}

function describeIssue(issue: z.core.$ZodIssue): string {
  if (issue.code === 'invalid_type') {
    const missing = issue.message.endsWith('received undefined');
    const expected = `${/^[aeiou]/.test(issue.expected) ? 'an' : 'a'} ${issue.expected}`;
    return missing ? `required (${expected})` : `expected ${expected}`;
  }
  // A record key that fails its schema: zod says "Invalid key in record"; the nested issue says why.
  if (issue.code === 'invalid_key' && issue.issues.length > 0) return issue.issues.map(describeIssue).join(', ');
  return issue.message;
}

function formatIssues(issues: readonly z.core.$ZodIssue[], lineOf: (path: readonly PropertyKey[]) => number | undefined): string {
  const shown = issues.slice(0, ISSUES_SHOWN_MAX).map((issue) => {
    const line = lineOf(issue.path);
    return `${formatPath(issue.path)}: ${describeIssue(issue)}${line === undefined ? '' : ` (line ${line})`}`;
  });
  if (issues.length > shown.length) shown.push(`and ${issues.length - shown.length} more`);
  return shown.join('; ');
}

/** `host:port` or `[v6]:port` split, or undefined when it is neither. */
export function splitAddress(text: string): { host: string; port: number } | undefined {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^\s:[\]]+)):(\d{1,5})$/.exec(text);
  if (match === null) return undefined;
  const port = Number(match[3]);
  if (port < 1 || port > 65_535) return undefined;
  return { host: match[1] ?? match[2]!, port };
}
