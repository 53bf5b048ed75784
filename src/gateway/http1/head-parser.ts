import { GatewayError } from '../errors.js';
import { HEAD_HEADERS_MAX, HEAD_LINE_BYTES_MAX } from '../limits.js';

/**
 * An incremental HTTP/1.1 head parser for the fast path, strict where
 * RFC 9112 lets a server be, because a proxy that reads a head differently
 * from the server behind it is how requests get smuggled:
 * - lines end in CRLF; a bare LF or a bare CR is refused (RFC 9112 §2.2);
 * - obs-fold (a line starting with SP/HTAB) is refused (§5.2);
 * - no whitespace between a field name and its colon (§5.1);
 * - Content-Length is digits only, and at most one (a repeated one is
 *   refused even when equal: §6.3 allows it, we need not);
 * - Content-Length with Transfer-Encoding is refused (§6.3 point 3 lets a
 *   server reject; a proxy must not guess);
 * - Transfer-Encoding must end in `chunked` and name it once, and is
 *   refused on HTTP/1.0 (§6.1);
 * - an HTTP/1.1 request has exactly one Host (§3.2).
 * Bounded: the head's bytes (`maxHeadBytes`), any line's bytes and the
 * number of fields. Every refusal is a `GatewayError` with
 * `KEEL_GW_BAD_REQUEST` (or `KEEL_GW_HEADERS_TOO_LARGE`) and the connection
 * is closed after the answer, never reused.
 */

/** One parsed head. `lines` locate each field line in the head bytes, so a proxy can forward them without rebuilding. */
export interface ParsedHead {
  /** Request: method; response: undefined. */
  readonly method: string;
  /** Request: the request-target; response: ''. */
  readonly target: string;
  /** Response: the status code; request: 0. */
  readonly status: number;
  /** 0 for HTTP/1.0, 1 for HTTP/1.1. */
  readonly minorVersion: number;
  /** Field names lowercased; repeated fields joined with ', ' (cookie with '; '), as node:http does. */
  readonly headers: Record<string, string>;
  /** Per field line, in order: the lowercased name and its [start, end) bytes in `bytes` (CRLF included). */
  readonly names: readonly string[];
  readonly starts: readonly number[];
  /** The whole head, through the empty line. */
  readonly bytes: Buffer;
  /** Where the head's first line ends (after its CRLF). */
  readonly firstLineEnd: number;
  /** Body framing: a length (0: none), 'chunked', or 'close' (read until the connection ends; responses only). */
  readonly framing: number | 'chunked' | 'close';
  /** The Connection header named `close` (or HTTP/1.0 without keep-alive). */
  readonly close: boolean;
  /** The tokens the Connection header names, lowercased (hop-by-hop for this message). */
  readonly connectionTokens: readonly string[];
}

export function badRequest(message: string): GatewayError {
  return new GatewayError('KEEL_GW_BAD_REQUEST', message);
}

const CR = 13;
const LF = 10;
const SP = 32;
const HTAB = 9;
const COLON = 58;

/** RFC 9110 tchar. */
const TOKEN = new Uint8Array(256);
for (const char of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") TOKEN[char.charCodeAt(0)] = 1;

/** Field-value bytes: VCHAR, obs-text, SP, HTAB (no CTLs, no DEL). */
const VALUE = new Uint8Array(256);
for (let byte = 0; byte < 256; byte++) VALUE[byte] = (byte >= 0x20 && byte !== 0x7f) || byte === HTAB ? 1 : 0;

/**
 * Where the head in `buffer` (from `offset`) ends: the index just past its
 * empty line, or -1 when it is not all here yet. Refuses a bare LF or CR and
 * an overlong head on the way, so a slow or hostile client is cut before
 * its head completes. Leading empty lines (CRLF) before the first line are
 * skipped by the caller (`skipLeadingCrlf`).
 */
export function findHeadEnd(buffer: Buffer, offset: number, maxHeadBytes: number): number {
  const limit = Math.min(buffer.length, offset + maxHeadBytes + 1);
  let lineStart = offset;
  for (let index = buffer.indexOf(LF, offset); index !== -1 && index < limit; index = buffer.indexOf(LF, index + 1)) {
    if (index === offset || buffer[index - 1] !== CR) throw badRequest('bare LF in the head');
    if (index - lineStart + 1 > HEAD_LINE_BYTES_MAX) throw new GatewayError('KEEL_GW_HEADERS_TOO_LARGE', `a head line exceeds ${HEAD_LINE_BYTES_MAX} bytes`);
    if (index - 1 === lineStart) return index + 1;
    lineStart = index + 1;
  }
  if (buffer.length - offset > maxHeadBytes) throw new GatewayError('KEEL_GW_HEADERS_TOO_LARGE', `the head exceeds ${maxHeadBytes} bytes`);
  if (limit - lineStart > HEAD_LINE_BYTES_MAX) throw new GatewayError('KEEL_GW_HEADERS_TOO_LARGE', `a head line exceeds ${HEAD_LINE_BYTES_MAX} bytes`);
  return -1;
}

/** Skips empty lines before a request line (RFC 9112 §2.2: a server SHOULD ignore at least one); returns the new offset. */
export function skipLeadingCrlf(buffer: Buffer, offset: number): number {
  let at = offset;
  while (at + 1 < buffer.length && buffer[at] === CR && buffer[at + 1] === LF) at += 2;
  return at;
}

/** Parses a complete request head (`bytes` ends with the empty line). */
export function parseRequestHead(bytes: Buffer): ParsedHead {
  const firstLineEnd = bytes.indexOf(LF) + 1;
  const line = bytes.toString('latin1', 0, firstLineEnd - 2);
  const firstSpace = line.indexOf(' ');
  const secondSpace = line.indexOf(' ', firstSpace + 1);
  if (firstSpace <= 0 || secondSpace === -1 || line.indexOf(' ', secondSpace + 1) !== -1) throw badRequest('malformed request line');
  const method = line.slice(0, firstSpace);
  for (let index = 0; index < firstSpace; index++) if (TOKEN[bytes[index]!] !== 1) throw badRequest('malformed method');
  const target = line.slice(firstSpace + 1, secondSpace);
  if (target.length === 0) throw badRequest('empty request-target');
  for (let index = firstSpace + 1; index < secondSpace; index++) {
    const byte = bytes[index]!;
    if (byte <= SP || byte === 0x7f) throw badRequest('control character or space in the request-target');
  }
  const version = line.slice(secondSpace + 1);
  if (version !== 'HTTP/1.1' && version !== 'HTTP/1.0') throw badRequest(`unsupported version ${JSON.stringify(version.slice(0, 16))}`);
  const head = parseFields(bytes, firstLineEnd, version === 'HTTP/1.1' ? 1 : 0, method, target, 0);
  checkHost(head);
  return head;
}

/** Parses a complete response head. `requestMethod` decides whether a body can follow (HEAD: none). */
export function parseResponseHead(bytes: Buffer, requestMethod: string): ParsedHead {
  const firstLineEnd = bytes.indexOf(LF) + 1;
  const status = statusOf(bytes, firstLineEnd - 2);
  const head = parseFields(bytes, firstLineEnd, bytes[7]! - ZERO, '', '', status);
  if (requestMethod === 'HEAD' || status === 204 || status === 304 || status < 200) return { ...head, framing: 0 };
  return head;
}

const ZERO = 48;
const STATUS_LINE_PREFIX = Buffer.from('HTTP/1.', 'latin1');

/** The status of a status line `HTTP/1.x DDD[ reason]` ending at `lineEnd` (before its CRLF): byte checks, no string. */
function statusOf(bytes: Buffer, lineEnd: number): number {
  const digit = (at: number): number => {
    const value = bytes[at]! - ZERO;
    return value >= 0 && value <= 9 ? value : -1;
  };
  const minor = digit(7);
  const hundreds = digit(9);
  const tens = digit(10);
  const units = digit(11);
  const wellFormed = lineEnd >= 12 && bytes.compare(STATUS_LINE_PREFIX, 0, 7, 0, 7) === 0 && (minor === 0 || minor === 1) && bytes[8] === SP
    && hundreds >= 1 && tens !== -1 && units !== -1 && (lineEnd === 12 || bytes[12] === SP);
  if (!wellFormed) throw badRequest('malformed status line');
  return hundreds * 100 + tens * 10 + units;
}

/**
 * Field names most heads carry, lowercased, by length: a name matching one (ASCII case-insensitively) is that
 * interned string, with no string made and lowercased per field line. Others are read and lowercased.
 */
const COMMON_NAMES: readonly (readonly string[] | undefined)[] = (() => {
  const names = [
    'host', 'user-agent', 'accept', 'accept-encoding', 'accept-language', 'connection', 'keep-alive', 'content-length', 'content-type',
    'transfer-encoding', 'date', 'server', 'via', 'x-forwarded-for', 'x-forwarded-proto', 'x-request-id', 'cookie', 'set-cookie',
    'cache-control', 'authorization', 'etag', 'last-modified', 'location', 'origin', 'referer', 'vary', 'content-encoding', 'expires',
    'upgrade', 'expect', 'te', 'trailer', 'pragma', 'if-none-match', 'if-modified-since', 'keel-deadline', 'grpc-timeout', 'traceparent',
  ];
  const byLength: string[][] = [];
  for (const name of names) (byLength[name.length] ??= []).push(name);
  return byLength;
})();

/** The lowercased field name in bytes [start, end) (already checked to be token characters). */
function fieldName(bytes: Buffer, start: number, end: number): string {
  const candidates = COMMON_NAMES[end - start];
  if (candidates !== undefined) {
    for (const name of candidates) if (sameLowercase(bytes, start, name)) return name;
  }
  return bytes.toString('latin1', start, end).toLowerCase();
}

/**
 * Whether the token bytes from `start` spell `name` (lowercase letters and '-') in any case. Setting bit 0x20 maps
 * 'A'-'Z' to 'a'-'z' and leaves '-' alone; the only other bytes it maps onto those are control characters and CR,
 * which a token never holds.
 */
function sameLowercase(bytes: Buffer, start: number, name: string): boolean {
  for (let index = 0; index < name.length; index++) if ((bytes[start + index]! | 0x20) !== name.charCodeAt(index)) return false;
  return true;
}

function parseFields(bytes: Buffer, firstLineEnd: number, minorVersion: number, method: string, target: string, status: number): ParsedHead {
  const headers: Record<string, string> = {};
  const names: string[] = [];
  const starts: number[] = [firstLineEnd];
  let contentLengths = 0;
  let at = firstLineEnd;
  for (;;) {
    const end = bytes.indexOf(LF, at);
    if (end === at + 1) break;
    if (names.length >= HEAD_HEADERS_MAX) throw new GatewayError('KEEL_GW_HEADERS_TOO_LARGE', `more than ${HEAD_HEADERS_MAX} header fields`);
    const first = bytes[at]!;
    if (first === SP || first === HTAB) throw badRequest('obs-fold (a folded header line) is not accepted');
    const colon = bytes.indexOf(COLON, at);
    if (colon === -1 || colon > end || colon === at) throw badRequest('header line without a name and colon');
    for (let index = at; index < colon; index++) if (TOKEN[bytes[index]!] !== 1) throw badRequest('invalid character in a header name');
    let valueStart = colon + 1;
    let valueEnd = end - 1;
    while (valueStart < valueEnd && (bytes[valueStart] === SP || bytes[valueStart] === HTAB)) valueStart++;
    while (valueEnd > valueStart && (bytes[valueEnd - 1] === SP || bytes[valueEnd - 1] === HTAB)) valueEnd--;
    for (let index = valueStart; index < valueEnd; index++) if (VALUE[bytes[index]!] !== 1) throw badRequest('control character in a header value');
    const name = fieldName(bytes, at, colon);
    const value = bytes.toString('latin1', valueStart, valueEnd);
    if (name === 'content-length') contentLengths++;
    const previous = headers[name];
    headers[name] = previous === undefined ? value : `${previous}${name === 'cookie' ? '; ' : ', '}${value}`;
    names.push(name);
    at = end + 1;
    starts.push(at);
  }
  // Fields named, not spread: every head gets one object shape, made once.
  const { framing, close, connectionTokens } = framingOf(headers, contentLengths, minorVersion, status !== 0);
  return { method, target, status, minorVersion, headers, names, starts, bytes, firstLineEnd, framing, close, connectionTokens };
}

const NO_TOKENS: readonly string[] = Object.freeze([]);

function tokensOf(value: string | undefined): readonly string[] {
  if (value === undefined) return NO_TOKENS;
  // One token (`keep-alive`, `close`, `chunked`) is the usual value: no split and filter.
  if (!value.includes(',')) {
    const token = value.trim().toLowerCase();
    return token === '' ? NO_TOKENS : [token];
  }
  return value.split(',').map((token) => token.trim().toLowerCase()).filter((token) => token !== '');
}

/** A message's body framing and connection handling from its fields (RFC 9112 §6); keel load's client reads responses with it too. */
export function framingOf(headers: Readonly<Record<string, string>>, contentLengths: number, minorVersion: number, response: boolean): Pick<ParsedHead, 'framing' | 'close' | 'connectionTokens'> {
  const connectionTokens = tokensOf(headers.connection);
  const close = connectionTokens.includes('close') || (minorVersion === 0 && !connectionTokens.includes('keep-alive'));
  const transferEncoding = headers['transfer-encoding'];
  const contentLength = headers['content-length'];
  if (transferEncoding !== undefined) {
    if (contentLength !== undefined) throw badRequest('both Content-Length and Transfer-Encoding');
    if (minorVersion === 0) throw badRequest('Transfer-Encoding in an HTTP/1.0 message');
    const codings = tokensOf(transferEncoding);
    if (codings.at(-1) !== 'chunked' || codings.indexOf('chunked') !== codings.length - 1) {
      // A response whose last coding is not chunked is delimited by the connection closing (§6.3 point 4); a request cannot be.
      if (response) return { framing: 'close', close: true, connectionTokens };
      throw badRequest('Transfer-Encoding must end with chunked, once');
    }
    return { framing: 'chunked', close, connectionTokens };
  }
  if (contentLength !== undefined) {
    if (contentLengths > 1) throw badRequest('more than one Content-Length');
    if (!/^\d{1,15}$/.test(contentLength)) throw badRequest('Content-Length is not a number');
    return { framing: Number(contentLength), close, connectionTokens };
  }
  return { framing: response ? 'close' : 0, close: close || response, connectionTokens };
}

/** Checks Host once per request: an HTTP/1.1 request has exactly one (a repeated Host is joined with ', ', which a host cannot contain). */
export function checkHost(head: ParsedHead): void {
  if (head.minorVersion !== 1) return;
  const host = head.headers.host;
  if (host === undefined) throw badRequest('HTTP/1.1 request without Host');
  if (host.includes(',')) throw badRequest('more than one Host');
}
