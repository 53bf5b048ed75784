import {
  type Clock, criticalityRank, type Criticality, gcra, keyedLimiter, type KeyedRateLimiter, type RateLimitDecision, slidingWindow, tokenBucket,
} from '../resilience/index.js';
import { CidrSet } from './address.js';
import type { RateLimitConfig } from './config.js';
import { GatewayError } from './errors.js';
import type { RouteRequest } from './router.js';

/** What a rate-limit rule sees of a request. */
export interface RateLimitRequest extends RouteRequest {
  readonly routeName: string;
  readonly cost: number;
  readonly criticality: Criticality;
}

interface Rule {
  readonly config: RateLimitConfig;
  readonly signature: string;
  readonly limiter: KeyedRateLimiter;
  readonly cidrs: CidrSet | undefined;
  readonly routes: ReadonlySet<string> | undefined;
  readonly policyField: string;
}

/**
 * Where a rule's permits come from when not from the rule's own limiter in
 * this process: with `keel gateway --workers N`, leases from the primary
 * (src/gateway/workers/leases.ts). May answer synchronously (permits already
 * leased) or after a round trip.
 */
export interface PermitSource {
  acquire(rule: RateLimitConfig, signature: string, key: string, permits: number): RateLimitDecision | Promise<RateLimitDecision>;
}

/** A rule's keyed limiter: one token bucket, GCRA or sliding-window counter per key, bounded by `maxKeys`. */
export function createRuleLimiter(config: RateLimitConfig, clock: Clock): KeyedRateLimiter {
  const burst = config.burst ?? config.limit;
  const create = () => {
    switch (config.algorithm) {
      case 'token-bucket': return tokenBucket({ capacity: burst, refillTokens: config.limit, refillIntervalMs: config.windowMs, clock });
      case 'gcra': return gcra({ emissionIntervalMs: config.windowMs / config.limit, burst, clock });
      case 'sliding-window': return slidingWindow({ limit: config.limit, windowMs: config.windowMs, mode: 'counter', clock });
    }
  };
  return keyedLimiter(create, { maxKeys: config.maxKeys });
}

/** The rule's identity across reloads (and across processes: the primary keys its limiters by it). */
export function ruleSignature(config: RateLimitConfig): string {
  return JSON.stringify(config);
}

function createRule(config: RateLimitConfig, clock: Clock): Rule {
  return {
    config,
    signature: ruleSignature(config),
    limiter: createRuleLimiter(config, clock),
    cidrs: config.sourceCidrs ? new CidrSet(config.sourceCidrs) : undefined,
    routes: config.routes ? new Set(config.routes) : undefined,
    policyField: `"${config.name}";q=${config.limit};w=${Math.max(1, Math.round(config.windowMs / 1000))}`,
  };
}

/** The descriptor's key for a request, or undefined when the rule does not apply (e.g. the header is absent). */
function keyOf(rule: Rule, request: RateLimitRequest): string | undefined {
  const { descriptor } = rule.config;
  if ('header' in descriptor) {
    const value = request.headers[descriptor.header];
    return Array.isArray(value) ? value[0] : value;
  }
  if ('clientIp' in descriptor) return request.clientIp;
  if ('route' in descriptor) return request.routeName;
  return 'global';
}

function headersFor(rule: Rule, decision: RateLimitDecision): Record<string, string> {
  const resetSeconds = Number.isFinite(decision.retryAfterMs) ? Math.ceil(decision.retryAfterMs / 1000) : undefined;
  const headers: Record<string, string> = {
    'ratelimit-policy': rule.policyField,
    ratelimit: `"${rule.config.name}";r=${decision.remaining}${resetSeconds === undefined ? '' : `;t=${resetSeconds}`}`,
  };
  if (!decision.allowed) headers['retry-after'] = String(Math.max(1, resetSeconds ?? 3_600));
  return headers;
}

/** Folds each rule's decision into the response headers (the most constrained rule's); the first refusal throws. */
class Verdict {
  headers: Record<string, string> = {};
  #lowest = Infinity;

  add(rule: Rule, key: string, decision: RateLimitDecision, onRefused: (rule: string) => void): void {
    if (!decision.allowed) {
      onRefused(rule.config.name);
      throw new GatewayError('KEEL_GW_RATE_LIMITED', `rate limit ${rule.config.name} exceeded for ${key}`, headersFor(rule, decision));
    }
    if (decision.remaining < this.#lowest) {
      this.#lowest = decision.remaining;
      this.headers = headersFor(rule, decision);
    }
  }
}

/** The request's key for `rule`, or undefined when the rule does not apply (route, source CIDRs, exempt criticality, no key). */
function keyIfApplies(rule: Rule, request: RateLimitRequest): string | undefined {
  if (rule.routes && !rule.routes.has(request.routeName)) return undefined;
  if (rule.cidrs && !rule.cidrs.contains(request.clientIp)) return undefined;
  const exempt = rule.config.exemptCriticality;
  if (exempt !== undefined && criticalityRank(request.criticality) <= criticalityRank(exempt)) return undefined;
  return keyOf(rule, request);
}

/**
 * Rate limiting by descriptor (API key header, client IP, route, global),
 * each rule a keyed token bucket, GCRA or sliding-window counter (a long
 * window is a quota) with bounded keys. A request takes `cost` permits from
 * every rule that applies; the first refusal answers 429 with Retry-After
 * and the IETF `RateLimit` / `RateLimit-Policy` fields. Rules whose config
 * is unchanged keep their state across a reload.
 */
export class RateLimits {
  readonly #rules: readonly Rule[];
  readonly #permits: PermitSource | undefined;

  /** `permits`: where permits come from instead of each rule's own limiter (the primary's leases, with several workers). */
  constructor(configs: readonly RateLimitConfig[], clock: Clock, previous?: RateLimits, permits?: PermitSource) {
    this.#permits = permits;
    this.#rules = configs.map((config) => {
      const old = (previous === undefined ? [] : previous.#rules).find((rule) => rule.signature === ruleSignature(config));
      return old ?? createRule(config, clock);
    });
  }

  /**
   * Takes the permits or throws `KEEL_GW_RATE_LIMITED`; returns headers for the response (the most constrained rule's).
   * Synchronous unless a PermitSource has to ask for a lease.
   */
  check(request: RateLimitRequest, onRefused: (rule: string) => void): Record<string, string> | Promise<Record<string, string>> {
    // One pass with no per-request array: this runs on every proxied request.
    const verdict = new Verdict();
    for (let index = 0; index < this.#rules.length; index++) {
      const rule = this.#rules[index]!;
      const key = keyIfApplies(rule, request);
      if (key === undefined) continue;
      const decision = this.#decide(rule, key, request.cost);
      if (decision instanceof Promise) return this.#checkLater(decision, rule, key, index + 1, request, verdict, onRefused);
      verdict.add(rule, key, decision, onRefused);
    }
    return verdict.headers;
  }

  #decide(rule: Rule, key: string, cost: number): RateLimitDecision | Promise<RateLimitDecision> {
    return this.#permits === undefined ? rule.limiter.tryAcquire(key, cost) : this.#permits.acquire(rule.config, rule.signature, key, cost);
  }

  /** The rest of `check` once a decision has to wait: `pending` is `rule`'s, and the rules from index `from` follow. */
  async #checkLater(
    pending: Promise<RateLimitDecision>, rule: Rule, key: string, from: number, request: RateLimitRequest, verdict: Verdict, onRefused: (rule: string) => void,
  ): Promise<Record<string, string>> {
    verdict.add(rule, key, await pending, onRefused);
    for (let index = from; index < this.#rules.length; index++) {
      const next = this.#rules[index]!;
      const nextKey = keyIfApplies(next, request);
      if (nextKey === undefined) continue;
      const decision = this.#decide(next, nextKey, request.cost);
      verdict.add(next, nextKey, decision instanceof Promise ? await decision : decision, onRefused);
    }
    return verdict.headers;
  }

  /** For the admin endpoint: each rule's keys in memory and evictions. */
  toJSON(): Array<Record<string, unknown>> {
    return this.#rules.map((rule) => ({ name: rule.config.name, algorithm: rule.config.algorithm, limit: rule.config.limit, windowMs: rule.config.windowMs, keys: rule.limiter.size, evictions: rule.limiter.evictions }));
  }
}
