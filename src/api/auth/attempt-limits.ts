import { KeyedRateLimiter } from '../../resilience/rate-limit/keyed.js';
import { TokenBucket } from '../../resilience/rate-limit/token-bucket.js';
import type { KeelNode } from '../../node/keel-node.js';
import { AuthRateLimitedError } from '../errors.js';
import { AUTH_LIMITED_ADDRESSES_MAX, AUTH_LIMITED_USERS_MAX } from '../limits.js';

/**
 * Brute-force limits on Authenticate, per user name and per client IP
 * address, with resilience's token buckets (one per key, in bounded keyed
 * maps). Each attempt takes one token from its address's bucket, then one
 * from its user's, *before* the password is hashed, so a refused attempt
 * costs no bcrypt work and concurrent guesses cannot overrun the bucket. An
 * attempt that does not turn out to be a wrong password (success, auth off,
 * a timeout) gives its tokens back: only failures count, so a fleet that
 * logs in as one user at once is not locked out by its own successes.
 *
 * A bucket holds N tokens and refills N per minute (N from the member's
 * flags; 0 turns that limit off). Limits are per member: a client spreading
 * guesses over M members gets M times the budget. Per-user limiting lets an
 * attacker lock a user's logins out for a minute at a time (the price of
 * slowing guesses against one account from many addresses); the user's
 * existing tokens and certificate keep working.
 */
export interface AttemptAdmission {
  /** The attempt did not count as a failure: give its tokens back. */
  refund(): void;
}

const MINUTE_MS = 60_000;

function limiterOf(perMinute: number, maxKeys: number): KeyedRateLimiter | undefined {
  if (perMinute === 0) return undefined;
  return new KeyedRateLimiter(() => new TokenBucket({ capacity: perMinute, refillIntervalMs: MINUTE_MS / perMinute }), { maxKeys });
}

/** IPv4 clients on a dual-stack socket appear as ::ffff:a.b.c.d: one key per IPv4 address either way. */
export function addressKey(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

export class AuthenticateLimits {
  readonly #byUser: KeyedRateLimiter | undefined;
  readonly #byAddress: KeyedRateLimiter | undefined;

  constructor(failedPerUserPerMinute: number, failedPerAddressPerMinute: number) {
    this.#byUser = limiterOf(failedPerUserPerMinute, AUTH_LIMITED_USERS_MAX);
    this.#byAddress = limiterOf(failedPerAddressPerMinute, AUTH_LIMITED_ADDRESSES_MAX);
  }

  /** Takes one attempt for `name` from `address`; throws AuthRateLimitedError (nothing taken) when either budget is spent. */
  admit(name: string, address: string): AttemptAdmission {
    const addressKeyed = addressKey(address);
    const byAddress = this.#byAddress?.tryAcquire(addressKeyed);
    if (byAddress && !byAddress.allowed) throw new AuthRateLimitedError('address', Math.max(1, Math.ceil(byAddress.retryAfterMs / 1000)));
    const byUser = this.#byUser?.tryAcquire(name);
    if (byUser && !byUser.allowed) {
      this.#byAddress?.refund(addressKeyed);
      throw new AuthRateLimitedError('user', Math.max(1, Math.ceil(byUser.retryAfterMs / 1000)));
    }
    let refunded = false;
    return {
      refund: () => {
        if (refunded) return;
        refunded = true;
        this.#byAddress?.refund(addressKeyed);
        this.#byUser?.refund(name);
      },
    };
  }
}

const LIMITS = new WeakMap<KeelNode, AuthenticateLimits>();

/** The member's limits, made from its configuration on first use. */
export function authenticateLimitsOf(node: KeelNode): AuthenticateLimits {
  let limits = LIMITS.get(node);
  if (!limits) {
    limits = new AuthenticateLimits(node.config.authFailedAttemptsPerUser, node.config.authFailedAttemptsPerAddress);
    LIMITS.set(node, limits);
  }
  return limits;
}
