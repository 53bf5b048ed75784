import { type Clock, HedgeLostReason, HedgePolicy, type PolicyContext, ratioBudget } from '../resilience/index.js';
import type { Cluster, PickRequest } from './cluster.js';
import type { HedgeConfig } from './config.js';
import { type AttemptOutcome, attemptFailureError } from './attempt.js';
import type { Endpoint } from './endpoint.js';
import { GatewayError } from './errors.js';

/**
 * Hedged requests for one route, over the resilience library's
 * `HedgePolicy`: when an attempt has given no response head after the
 * route's delay (a percentile of its recent attempt latencies, or fixed),
 * another goes out to another endpoint, within `maxAttempts` and a ratio
 * budget (`budgetPercent` of the route's hedgeable requests over 10 s). A
 * failed attempt, or one answered with a retriable status, sends the next
 * at once (gRPC's and Envoy's rule). The first other answer wins; every
 * other attempt is cancelled (its upstream connection destroyed, never
 * pooled mid-response) and its error never reaches the client.
 *
 * Both engines drive the race through `raceEndpoints` with their own way of
 * sending an attempt (`HedgeEngine`). The race ends at a response head, so
 * no attempt is ever sent after a byte of the response went to the client.
 */

/** How one hedge ended, as keel_gateway_hedges_total counts it. */
export type HedgeOutcome = 'won' | 'lost' | 'budget_exhausted';

/** Where routes report their hedging (the gateway's metrics). */
export interface HedgeObserver {
  /** A hedge answered first (won), was cancelled or failed (lost), or was due but the budget refused it (budget_exhausted). */
  outcome(route: string, outcome: HedgeOutcome): void;
  /** The route's hedge delay, whenever a hedged request finds it changed. */
  delay(route: string, delayMs: number): void;
}

const SILENT_OBSERVER: HedgeObserver = { outcome: () => {}, delay: () => {} };

/** Methods hedged on every route that hedges (RFC 9110 §9.2.1 safe methods). PUT and DELETE only when the route lists them. */
const SAFE_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Thrown inside the race for an answer with a retriable status: the next attempt goes out, and it is relayed only if nothing better comes. */
class RetriableAnswer extends Error {
  constructor(readonly attempt: number) {
    super('retriable status');
  }
}

/** An attempt that failed inside a race: what the client's error is made of if no attempt answers. */
class AttemptFailure extends Error {
  constructor(override readonly cause: unknown, readonly timedOut: boolean, readonly endpoint: Endpoint) {
    super('upstream attempt failed');
  }
}

/** How an engine sends one attempt of a hedged request. */
export interface HedgeEngine<T> {
  /**
   * Sends the request to `endpoint`; resolves with the response head (its
   * body not yet read) or an error. When `signal` aborts, the attempt must
   * cancel (destroy its upstream connection) and end in an error without
   * reporting the endpoint as failing: it lost a race, it did not fail.
   */
  attempt(endpoint: Endpoint, signal: AbortSignal): Promise<AttemptOutcome<T>>;
  status(answer: T): number;
  /** Drops an answer that is not relayed: its connection is destroyed, never reused. */
  cancel(answer: T, endpoint: Endpoint): void;
}

/** The answer a race relays, and the endpoint that gave it. */
export interface HedgedAnswer<T> {
  readonly answer: T;
  readonly endpoint: Endpoint;
}

/** The client side of a request: its 'close' ends the race (every attempt cancelled, no hedge after). */
export interface ClientCloseSource {
  once(event: 'close', listener: () => void): unknown;
  off(event: 'close', listener: () => void): unknown;
}

/** A route's hedging: its policy (latency samples and budget) and which requests it takes. */
export class RouteHedge {
  readonly route: string;
  readonly config: HedgeConfig;
  readonly #policy: HedgePolicy;
  readonly #methods: ReadonlySet<string>;
  readonly #observer: HedgeObserver;
  /** The delay last given to the observer (a gauge is set only when it changes). */
  #reportedDelayMs = -1;

  constructor(route: string, config: HedgeConfig, clock: Clock, observer: HedgeObserver = SILENT_OBSERVER) {
    this.route = route;
    this.config = config;
    this.#observer = observer;
    this.#methods = new Set([...SAFE_METHODS, ...config.extraMethods]);
    const fixedMs = config.delay.fixedMs;
    this.#policy = new HedgePolicy({
      clock,
      maxAttempts: config.maxAttempts,
      sampleSize: config.sampleSize,
      budget: ratioBudget({ ratio: config.budgetPercent / 100, minRetriesPerSecond: config.minHedgesPerSecond, clock }),
      delay: fixedMs !== undefined ? fixedMs : {
        percentile: (config.delay.percentile ?? 95) / 100, minSamples: config.minSamples, initialDelayMs: config.initialDelayMs, minDelayMs: config.minDelayMs,
      },
    });
    this.#policy.events.on('budget-exhausted', () => observer.outcome(route, 'budget_exhausted'));
  }

  /** The delay before a hedge is sent now, in ms. */
  get delayMs(): number {
    return this.#policy.delayMs;
  }

  /**
   * Whether a request may be hedged: its method is safe (or listed in
   * `extraMethods`) and it has no body, or one of known length
   * (`bodyBytes`; undefined for chunked) that fits `maxBodyBytes`.
   */
  admits(method: string, bodyBytes: number | undefined): boolean {
    if (!this.#methods.has(method)) return false;
    return bodyBytes !== undefined && bodyBytes <= this.config.maxBodyBytes;
  }

  /** Whether a config change keeps this route's hedge state (samples and budget): the same route and the same settings. */
  sameAs(route: string, config: HedgeConfig): boolean {
    return route === this.route && JSON.stringify(config) === JSON.stringify(this.config);
  }

  /**
   * Runs the race: `launch` sends attempt n (1-based) under `signal`. The
   * winner is the first answer whose status is not in `retriableStatuses`;
   * if every attempt fails, the last retriable answer is relayed when one
   * came, else the last error is thrown. Every answer but the winner is
   * cancelled, including ones that arrive after the race ended.
   */
  async race<T>(engine: { status(answer: T): number; cancel(answer: T): void }, launch: (attempt: number, signal: AbortSignal) => Promise<T>, retriableStatuses: readonly number[], signal: AbortSignal): Promise<T> {
    const held = new Map<number, T>();
    let settled = false;
    let launched = 0;
    let winner: number | undefined;
    const delayMs = this.#policy.delayMs;
    if (delayMs !== this.#reportedDelayMs) {
      this.#reportedDelayMs = delayMs;
      this.#observer.delay(this.route, delayMs);
    }
    const operation = async (context: PolicyContext): Promise<number> => {
      launched = Math.max(launched, context.attempt);
      const answer = await launch(context.attempt, context.signal);
      if (settled) {
        engine.cancel(answer);
        throw new HedgeLostReason();
      }
      held.set(context.attempt, answer);
      if (retriableStatuses.includes(engine.status(answer))) throw new RetriableAnswer(context.attempt);
      return context.attempt;
    };
    try {
      winner = await this.#policy.execute(operation, { signal });
    } catch (error) {
      // Every attempt failed: an upstream's own retriable answer (the last to come) says more than our error would.
      winner = [...held.keys()].pop();
      if (winner === undefined) throw error;
    } finally {
      settled = true;
      for (const [attempt, answer] of held) if (attempt !== winner) engine.cancel(answer);
      const won = winner !== undefined && winner > 1 ? 1 : 0;
      if (won === 1) this.#observer.outcome(this.route, 'won');
      for (let lost = launched - 1 - won; lost > 0; lost--) this.#observer.outcome(this.route, 'lost');
    }
    // winner is set once execute resolved (it returns an attempt that put its answer in held) or the catch found one
    return held.get(winner as number) as T;
  }
}

/**
 * A hedged request's race over a cluster's endpoints: the first attempt
 * goes where the balancer picks, each hedge to an endpoint not tried yet
 * when there is one. Throws `KEEL_GW_NO_HEALTHY_UPSTREAM` before anything
 * is sent when the cluster has no endpoint at all; when every attempt
 * failed, the last failure as the client's error (`attemptFailureError`).
 */
export async function raceEndpoints<T>(
  hedge: RouteHedge, cluster: Cluster, pick: PickRequest, clock: Clock, engine: HedgeEngine<T>, retriableStatuses: readonly number[], client: ClientCloseSource,
): Promise<HedgedAnswer<T>> {
  const tried = new Set<Endpoint>();
  const next = (): Endpoint => {
    const endpoint = cluster.pick({ ...pick, exclude: tried }, clock.now());
    if (endpoint === undefined) throw new GatewayError('KEEL_GW_NO_HEALTHY_UPSTREAM', `cluster ${cluster.name} has no endpoint to take the request`);
    tried.add(endpoint);
    return endpoint;
  };
  const first = next();
  const launch = async (attempt: number, signal: AbortSignal): Promise<HedgedAnswer<T>> => {
    const endpoint = attempt === 1 ? first : next();
    const outcome = await engine.attempt(endpoint, signal);
    if (outcome.kind === 'error') throw new AttemptFailure(outcome.error, outcome.timedOut, endpoint);
    return { answer: outcome.data, endpoint };
  };
  const clientGone = new AbortController();
  const onClientClose = (): void => clientGone.abort(new Error('client closed the connection'));
  client.once('close', onClientClose);
  try {
    return await hedge.race({ status: (won) => engine.status(won.answer), cancel: (lost) => engine.cancel(lost.answer, lost.endpoint) }, launch, retriableStatuses, clientGone.signal);
  } catch (error) {
    throw error instanceof AttemptFailure ? attemptFailureError(error.cause, error.timedOut, error.endpoint) : error;
  } finally {
    client.off('close', onClientClose);
  }
}
