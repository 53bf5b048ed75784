import { ClockSkewError } from './errors.js';

/**
 * The member's sense of elapsed time, in milliseconds on a monotonic scale.
 * Everything that decides by elapsed time reads it: raft ticks (election
 * and heartbeat timers), lease deadlines, the grace before a write at risk
 * fails, auto-compaction's period. Measurements (metrics, request deadlines
 * paired with real timers) keep reading performance.now(): they describe
 * the host, not the member's beliefs.
 */
export interface MemberClock {
  now(): number;
}

/** Rate bounds: a factor of ten either way is already a badly broken oscillator. */
export const CLOCK_RATE_MIN = 0.1;
export const CLOCK_RATE_MAX = 10;
/** The largest single jump forward (an hour): more says nothing a smaller one does not. */
export const CLOCK_BUMP_MS_MAX = 3_600_000;

export interface ClockSkew {
  /** Member time per real time from now on (1 = true rate). */
  readonly rate?: number;
  /** A one-off jump forward, in ms. */
  readonly bumpMs?: number;
}

export interface ClockState {
  readonly rate: number;
  /** How far the member's clock runs ahead of the host's (never negative while rate ≥ 1). */
  readonly aheadMs: number;
}

/**
 * A monotonic clock that chaos can skew on a running member (`keel chaos
 * clock`, through POST /debug/clock): its rate can drift (a clock running
 * fast expires a leader's leases early, one running slow keeps them late)
 * and it can jump forward. It never runs backwards, so a jump back is not
 * offered: the member would see negative intervals no real monotonic clock
 * gives. Going back to rate 1 keeps the skew accumulated so far, as a real
 * clock that stops drifting does.
 */
export class SkewableClock implements MemberClock {
  readonly #base: () => number;
  #anchorBase: number;
  /**
   * How far ahead the member was at the anchor. Kept as an offset, not as an
   * absolute member time, so an unskewed clock reads exactly the host's
   * time and reports exactly 0 ahead (anchor + elapsed drifts by an ulp).
   */
  #aheadAtAnchor = 0;
  #rate = 1;

  constructor(base: () => number = () => performance.now()) {
    this.#base = base;
    this.#anchorBase = base();
  }

  now(): number {
    const base = this.#base();
    return base + this.#aheadAt(base);
  }

  /** How far ahead the member's clock is at host time `base` (one host reading per call, so differences are exact). */
  #aheadAt(base: number): number {
    return this.#rate === 1 ? this.#aheadAtAnchor : this.#aheadAtAnchor + (base - this.#anchorBase) * (this.#rate - 1);
  }

  /** Applies a skew (validated first: nothing changes on a refused one) and returns the new state. */
  skew(skew: ClockSkew): ClockState {
    const { rate, bumpMs } = skew;
    if (rate !== undefined && !(typeof rate === 'number' && Number.isFinite(rate) && rate >= CLOCK_RATE_MIN && rate <= CLOCK_RATE_MAX)) {
      throw new ClockSkewError(`rate ${String(rate)}: expected a number from ${CLOCK_RATE_MIN} to ${CLOCK_RATE_MAX}`);
    }
    if (bumpMs !== undefined && !(typeof bumpMs === 'number' && Number.isFinite(bumpMs) && bumpMs >= 0 && bumpMs <= CLOCK_BUMP_MS_MAX)) {
      throw new ClockSkewError(`bumpMs ${String(bumpMs)}: expected 0 to ${CLOCK_BUMP_MS_MAX} (a monotonic clock only jumps forward)`);
    }
    // Re-anchor at the current reading so a new rate applies from now on, without a jump.
    const base = this.#base();
    this.#aheadAtAnchor = this.#aheadAt(base);
    this.#anchorBase = base;
    if (rate !== undefined) this.#rate = rate;
    if (bumpMs !== undefined) this.#aheadAtAnchor += bumpMs;
    return this.state();
  }

  state(): ClockState {
    return { rate: this.#rate, aheadMs: this.#aheadAt(this.#base()) };
  }
}
