import { CLOCK_BUMP_MS_MAX, CLOCK_RATE_MAX, CLOCK_RATE_MIN } from '../node/clock.js';
import type { Action } from './actions.js';
import { InvalidFaultError } from './errors.js';
import type { PlanContext, PlannedFault } from './plan.js';
import { resolveMemberTargets } from './targets.js';

/**
 * Clock skew on running members: their own clock (raft ticks, lease
 * deadlines; src/node/clock.ts) drifts at `rate` and/or jumps `bumpMs`
 * forward, through POST /debug/clock on the client port (the member must run
 * with --enable-failpoint-api or KEEL_FAILPOINT_API=1). Only that member's
 * clock moves: the host clock, and so every other process, is untouched.
 * When the lease ends the rate goes back to 1; the skew built up stays, as a
 * real clock that stops drifting keeps its error (a monotonic clock is never
 * stepped back). A member that restarted comes back with a true clock, so
 * the undo counts one that does not answer as done.
 */
export interface ClockFaultSpec {
  readonly kind: 'clock';
  readonly target: string;
  /** Member time per real time: 5 runs five times fast (a leader's leases expire early), 0.5 half as fast. */
  readonly rate?: number;
  /** A jump forward, in ms (at least an election timeout makes a follower campaign, a leader expire leases). */
  readonly bumpMs?: number;
  readonly durationMs: number;
}

export async function planClockFault(spec: ClockFaultSpec, context: PlanContext): Promise<PlannedFault> {
  const { rate, bumpMs } = spec;
  if (rate === undefined && bumpMs === undefined) throw new InvalidFaultError('a clock fault needs a rate, a bump, or both');
  if (rate !== undefined && !(Number.isFinite(rate) && rate >= CLOCK_RATE_MIN && rate <= CLOCK_RATE_MAX)) throw new InvalidFaultError(`clock rate ${String(rate)}: expected ${CLOCK_RATE_MIN} to ${CLOCK_RATE_MAX}`);
  if (bumpMs !== undefined && !(Number.isFinite(bumpMs) && bumpMs > 0 && bumpMs <= CLOCK_BUMP_MS_MAX)) throw new InvalidFaultError(`clock bump ${String(bumpMs)} ms: expected more than 0 and at most ${CLOCK_BUMP_MS_MAX} (a member's clock only jumps forward)`);
  if (spec.durationMs === undefined) throw new InvalidFaultError('a clock fault needs a duration (its lease)');
  const members = await resolveMemberTargets(spec.target, context.view, context.random, "a member's clock is skewed through its client port");
  const call = (url: string, body: object, downOk: boolean): Action => ({ op: 'http', url: `${url}/debug/clock`, body, ...(downOk ? { downOk } : {}) });
  const skew = { ...(rate !== undefined ? { rate } : {}), ...(bumpMs !== undefined ? { bumpMs } : {}) };
  const what = [rate !== undefined ? `rate ${rate}x` : '', bumpMs !== undefined ? `jump +${bumpMs} ms` : ''].filter(Boolean).join(', ');
  return {
    kind: 'clock',
    description: `clock ${what} on ${members.map((target) => target.label).join(', ')} for ${spec.durationMs} ms`,
    inject: members.map((target) => call(target.member!.clientUrl, skew, false)),
    undo: members.map((target) => call(target.member!.clientUrl, { rate: 1 }, true)),
    durationMs: spec.durationMs,
    notes: bumpMs !== undefined ? ['a jump is not undone: a monotonic clock never steps back; the undo stops any drift'] : [],
  };
}
