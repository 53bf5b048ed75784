import { createPrivateKey, createPublicKey, randomBytes } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { SignJWT, jwtVerify } from 'jose';
import { InvalidAuthTokenError } from '../store/errors.js';
import type { AuthInfo, AuthResponse } from '../store/auth-state.js';
import { NodeConfigError } from './errors.js';

/**
 * etcd's two token providers (--auth-token), per member.
 *
 * simple: a random token, handed out through the log (the `authenticate`
 * auth command carries it) so every member learns it when it applies the
 * entry, and kept in memory with a TTL that restarts on each use (etcd's
 * simpleTokenTTLKeeper). It names the user only; its auth revision is the
 * current one when used, as in etcd. A user's tokens go when the user is
 * deleted or changes password, and all go when auth is disabled.
 *
 * jwt: a signed token with etcd's claims (username, revision, exp),
 * checked by signature on any member without the log. A JWT issued before
 * the auth revision moved is refused as "revision of auth store is old", and
 * etcd clients authenticate again.
 */

/** Simple tokens one member keeps; the oldest go first past this (each is about 100 bytes of memory). */
export const SIMPLE_TOKENS_MAX = 100_000;
/** etcd's default JWT ttl (5 minutes). */
const JWT_TTL_DEFAULT_MS = 5 * 60_000;
const SIGN_METHODS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const;
type SignMethod = (typeof SIGN_METHODS)[number];

export type AuthTokenOptions =
  | { type: 'simple' }
  | { type: 'jwt'; signMethod: SignMethod; publicKeyFile: string; privateKeyFile: string | undefined; ttlMs: number };

/** "1h", "5m", "30s", "500ms" (Go's time.ParseDuration for the units etcd users write). */
function durationMs(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(text);
  if (!match) throw new NodeConfigError(`--auth-token: ttl "${text}" is not a duration such as 5m`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[match[2] as 'ms' | 's' | 'm' | 'h'];
  const value = Number(match[1]) * unit;
  if (!(value >= 1000 && value <= 365 * 86_400_000)) throw new NodeConfigError('--auth-token: ttl must be between 1s and a year');
  return value;
}

/** Parses etcd's --auth-token value. Throws NodeConfigError naming what is wrong. */
export function parseAuthTokenOption(text: string): AuthTokenOptions {
  const [type, ...parts] = text.split(',');
  if (type === 'simple' && parts.length === 0) return { type: 'simple' };
  if (type !== 'jwt') throw new NodeConfigError(`--auth-token: unknown token type "${type}" (simple or jwt)`);
  const fields = new Map<string, string>();
  for (const part of parts) {
    const at = part.indexOf('=');
    if (at <= 0) throw new NodeConfigError(`--auth-token: "${part}" is not key=value`);
    fields.set(part.slice(0, at), part.slice(at + 1));
  }
  for (const key of fields.keys()) {
    if (!['pub-key', 'priv-key', 'sign-method', 'ttl'].includes(key)) throw new NodeConfigError(`--auth-token: unknown option "${key}"`);
  }
  const signMethod = fields.get('sign-method');
  if (!signMethod || !(SIGN_METHODS as readonly string[]).includes(signMethod)) throw new NodeConfigError(`--auth-token: sign-method must be one of ${SIGN_METHODS.join(', ')}`);
  const publicKeyFile = fields.get('pub-key');
  if (!publicKeyFile) throw new NodeConfigError('--auth-token: jwt needs pub-key=<file>');
  const ttl = fields.get('ttl');
  return { type: 'jwt', signMethod: signMethod as SignMethod, publicKeyFile, privateKeyFile: fields.get('priv-key'), ttlMs: ttl ? durationMs(ttl) : JWT_TTL_DEFAULT_MS };
}

interface SimpleEntry {
  name: string;
  expiresAtMs: number;
}

/** A member's tokens: hands them out, resolves them to a user, and follows applied auth changes. */
export class AuthTokens {
  readonly #options: AuthTokenOptions;
  readonly #simpleTtlMs: number;
  readonly #now: () => number;
  readonly #simple = new Map<string, SimpleEntry>();
  #privateKey: KeyObject | undefined;
  #publicKey: KeyObject | undefined;

  constructor(options: AuthTokenOptions, simpleTtlSeconds: number, now: () => number = Date.now) {
    this.#options = options;
    this.#simpleTtlMs = simpleTtlSeconds * 1000;
    this.#now = now;
    if (options.type === 'jwt') {
      try {
        this.#publicKey = createPublicKey(readFileSync(options.publicKeyFile));
        this.#privateKey = options.privateKeyFile ? createPrivateKey(readFileSync(options.privateKeyFile)) : undefined;
      } catch (error) {
        throw new NodeConfigError(`--auth-token: cannot load the jwt keys: ${(error as Error).message}`);
      }
    }
  }

  /** True when tokens must go through the log (simple tokens) before the client gets one. */
  get replicated(): boolean {
    return this.#options.type === 'simple';
  }

  /** A fresh token for `name` at auth revision `revision` (simple: random; jwt: signed). */
  async issue(name: string, revision: number): Promise<string> {
    if (this.#options.type === 'simple') return `${randomBytes(12).toString('base64url')}.${this.#simple.size}`;
    if (!this.#privateKey) throw new InvalidAuthTokenError(); // a verify-only member (no priv-key) cannot hand out tokens
    return new SignJWT({ username: name, revision })
      .setProtectedHeader({ alg: this.#options.signMethod })
      .setExpirationTime(Math.floor((this.#now() + this.#options.ttlMs) / 1000))
      .sign(this.#privateKey);
  }

  /** Who `token` names, with the auth revision it carries (`currentRevision` for simple tokens). Throws InvalidAuthTokenError. */
  async resolve(token: string, currentRevision: number): Promise<AuthInfo> {
    if (this.#options.type === 'simple') {
      const entry = this.#simple.get(token);
      const now = this.#now();
      if (entry === undefined || entry.expiresAtMs <= now) {
        if (entry) this.#simple.delete(token);
        throw new InvalidAuthTokenError();
      }
      entry.expiresAtMs = now + this.#simpleTtlMs;
      return { name: entry.name, revision: currentRevision };
    }
    try {
      const { payload } = await jwtVerify(token, this.#publicKey!, { algorithms: [this.#options.signMethod], currentDate: new Date(this.#now()) });
      if (typeof payload.username !== 'string' || typeof payload.revision !== 'number') throw new InvalidAuthTokenError();
      return { name: payload.username, revision: payload.revision };
    } catch {
      throw new InvalidAuthTokenError();
    }
  }

  /** Follows an applied auth command (on every member, in log order). */
  applied(response: AuthResponse): void {
    const request = response.request;
    switch (request.op) {
      case 'authenticate':
        if (this.#options.type !== 'simple') return;
        if (this.#simple.size >= SIMPLE_TOKENS_MAX) this.#simple.delete(this.#simple.keys().next().value!);
        this.#simple.set(request.token, { name: request.name, expiresAtMs: this.#now() + this.#simpleTtlMs });
        return;
      case 'userDelete':
      case 'userChangePassword':
        for (const [token, entry] of this.#simple) if (entry.name === request.name) this.#simple.delete(token);
        return;
      case 'disable':
        this.#simple.clear();
        return;
      default:
        return;
    }
  }

  /** Simple tokens held now (for tests and metrics). */
  get simpleTokenCount(): number {
    return this.#simple.size;
  }
}
