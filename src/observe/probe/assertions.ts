/**
 * The assertions of an HTTP check, evaluated on a response that has been
 * read: pure functions, each returning the failures it found (empty when it
 * passed), so a failed check lists every assertion that did not hold.
 */
import { isDeepStrictEqual } from 'node:util';
import type { HttpExpect, JsonAssertion, StringMatcher } from './config.js';
import { lookupJsonPath } from './json-path.js';

export interface ReadResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: string;
  /** True when the body was longer than the limit and was cut. */
  readonly truncated: boolean;
  readonly durationMs: number;
}

/** Shown values are cut to this many characters. */
const SHOWN_LENGTH_MAX = 80;

export function evaluateExpect(expect: HttpExpect, response: ReadResponse): string[] {
  return [
    ...statusFailures(expect.status, response.status),
    ...Object.entries(expect.headers ?? {}).flatMap(([name, matcher]) => headerFailures(name, matcher, response.headers[name.toLowerCase()])),
    ...bodyFailures(expect.body, response),
    ...jsonFailures(expect.json ?? [], response),
    ...(expect.maxMs !== undefined && response.durationMs > expect.maxMs ? [`took ${response.durationMs.toFixed(0)} ms, more than maxMs ${expect.maxMs}`] : []),
  ];
}

function statusFailures(expected: number | readonly number[] | undefined, status: number): string[] {
  // With no status named, any 2xx passes (blackbox_exporter's default).
  if (expected === undefined) return status >= 200 && status < 300 ? [] : [`status ${status}, expected 2xx`];
  const allowed = typeof expected === 'number' ? [expected] : expected;
  return allowed.includes(status) ? [] : [`status ${status}, expected ${allowed.join(' or ')}`];
}

function headerFailures(name: string, matcher: string | StringMatcher, value: string | string[] | undefined): string[] {
  if (value === undefined) return [`header ${name} missing`];
  const text = Array.isArray(value) ? value.join(', ') : value;
  const { equals, matches } = typeof matcher === 'string' ? { equals: matcher, matches: undefined } : matcher;
  const failures: string[] = [];
  if (equals !== undefined && text !== equals) failures.push(`header ${name} is ${show(text)}, expected ${show(equals)}`);
  if (matches !== undefined && !matches.test(text)) failures.push(`header ${name} ${show(text)} does not match /${matches.source}/`);
  return failures;
}

function bodyFailures(expected: HttpExpect['body'], response: ReadResponse): string[] {
  if (expected === undefined) return [];
  const failures: string[] = [];
  const cut = response.truncated ? ' (body cut at the size limit)' : '';
  const contains = expected.contains === undefined ? [] : typeof expected.contains === 'string' ? [expected.contains] : expected.contains;
  for (const text of contains) if (!response.body.includes(text)) failures.push(`body does not contain ${show(text)}${cut}`);
  if (expected.matches !== undefined && !expected.matches.test(response.body)) failures.push(`body does not match /${expected.matches.source}/${cut}`);
  return failures;
}

function jsonFailures(assertions: readonly JsonAssertion[], response: ReadResponse): string[] {
  if (assertions.length === 0) return [];
  let document: unknown;
  try {
    document = JSON.parse(response.body);
  } catch {
    return [`body is not JSON${response.truncated ? ' (cut at the size limit)' : ''}: ${show(response.body)}`];
  }
  return assertions.flatMap((assertion) => jsonAssertionFailures(assertion, document));
}

/** Exported for tests: one JSON-path assertion against a parsed document. */
export function jsonAssertionFailures(assertion: JsonAssertion, document: unknown): string[] {
  const path = assertion.path.text;
  const { found, value } = lookupJsonPath(document, assertion.path.segments);
  if (assertion.exists !== undefined && assertion.exists !== found) return [found ? `${path} exists (${show(JSON.stringify(value))}), expected it absent` : `${path} does not exist`];
  const others = Object.hasOwn(assertion, 'equals') || assertion.matches !== undefined || assertion.gt !== undefined || assertion.lt !== undefined;
  if (!others) return [];
  if (!found) return [`${path} does not exist`];
  const failures: string[] = [];
  if (Object.hasOwn(assertion, 'equals') && !jsonEquals(value, assertion.equals)) failures.push(`${path} is ${show(JSON.stringify(value))}, expected ${show(JSON.stringify(assertion.equals))}`);
  if (assertion.matches !== undefined && !assertion.matches.test(asText(value))) failures.push(`${path} ${show(asText(value))} does not match /${assertion.matches.source}/`);
  const number = asNumber(value);
  if ((assertion.gt !== undefined || assertion.lt !== undefined) && number === undefined) failures.push(`${path} is ${show(JSON.stringify(value))}, not a number`);
  else if (assertion.gt !== undefined && !(number! > assertion.gt)) failures.push(`${path} is ${number}, expected > ${assertion.gt}`);
  else if (assertion.lt !== undefined && !(number! < assertion.lt)) failures.push(`${path} is ${number}, expected < ${assertion.lt}`);
  return failures;
}

/**
 * Deep equality, except that a number and a string holding that number are
 * equal: etcd's JSON gateway writes int64 fields (revisions, counts) as
 * strings, and a checks file should not have to know which fields those are.
 */
function jsonEquals(actual: unknown, expected: unknown): boolean {
  if (typeof expected === 'number' && typeof actual === 'string') return asNumber(actual) === expected;
  return isDeepStrictEqual(actual, expected);
}

/** A number, or a string that is exactly a decimal number (etcd's int64 fields). */
function asNumber(value: unknown): number | undefined {
  if (typeof value === 'number') return value;
  if (typeof value === 'string' && /^-?\d+(\.\d+)?$/.test(value)) return Number(value);
  return undefined;
}

function asText(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value) ?? 'undefined';
}

function show(text: string): string {
  const quoted = JSON.stringify(text.length > SHOWN_LENGTH_MAX ? `${text.slice(0, SHOWN_LENGTH_MAX)}...` : text);
  return quoted;
}
