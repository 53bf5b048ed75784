import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import type { GatewayConfig } from './config.js';
import { GatewayConfigError } from './errors.js';
import { ADMIN_TOKEN_CHARS_MAX, ADMIN_TOKEN_CHARS_MIN } from './limits.js';

/** The environment variable that sets the admin token when the config names none. */
export const ADMIN_TOKEN_ENV = 'KEEL_GW_ADMIN_TOKEN';

/** Who may use the admin port: `token` undefined means open (the loopback-only default). */
export interface AdminAccess {
  /** SHA-256 of the token: compared digest to digest, so neither length nor content leaks through timing. */
  readonly tokenDigest: Buffer | undefined;
  /** /metrics is served without the token. */
  readonly openMetrics: boolean;
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

function checkedToken(token: string, field: string): string {
  if (token.length < ADMIN_TOKEN_CHARS_MIN || token.length > ADMIN_TOKEN_CHARS_MAX) {
    throw new GatewayConfigError([`${field}: the token must be ${ADMIN_TOKEN_CHARS_MIN} to ${ADMIN_TOKEN_CHARS_MAX} characters`]);
  }
  if (!/^[\x21-\x7e]+$/.test(token)) throw new GatewayConfigError([`${field}: the token must be printable ASCII without spaces`]);
  return token;
}

/**
 * The admin access a config asks for: `admin.token`, else `admin.tokenFile`
 * (read now, so a reload picks up a rotated file), else the env var. Throws
 * GatewayConfigError (naming the field, never the token) when the file
 * cannot be read or the token is malformed.
 */
export function resolveAdminAccess(admin: GatewayConfig['admin'], env: NodeJS.ProcessEnv = process.env): AdminAccess {
  if (admin === undefined) return { tokenDigest: undefined, openMetrics: true };
  let token: string | undefined;
  if (admin.token !== undefined) token = checkedToken(admin.token, 'admin.token');
  else if (admin.tokenFile !== undefined) {
    let text: string;
    try {
      if (statSync(admin.tokenFile).size > ADMIN_TOKEN_CHARS_MAX + 2) throw new Error('file too large for a token');
      text = readFileSync(admin.tokenFile, 'utf8');
    } catch (error) {
      throw new GatewayConfigError([`admin.tokenFile: cannot read ${admin.tokenFile}: ${(error as Error).message}`]);
    }
    token = checkedToken(text.trimEnd(), 'admin.tokenFile');
  } else if (env[ADMIN_TOKEN_ENV] !== undefined && env[ADMIN_TOKEN_ENV] !== '') token = checkedToken(env[ADMIN_TOKEN_ENV], ADMIN_TOKEN_ENV);
  return { tokenDigest: token === undefined ? undefined : digest(token), openMetrics: token === undefined || admin.openMetrics };
}

/** Whether `request` may use `path` on the admin port. */
export function adminAllowed(access: AdminAccess, request: IncomingMessage, path: string): boolean {
  if (access.tokenDigest === undefined) return true;
  if (path === '/metrics' && access.openMetrics) return true;
  const header = request.headers.authorization;
  if (typeof header !== 'string' || header.length > ADMIN_TOKEN_CHARS_MAX + 16) return false;
  const match = /^Bearer[ ]+(\S+)\s*$/i.exec(header);
  if (match === null) return false;
  return timingSafeEqual(digest(match[1]!), access.tokenDigest);
}
