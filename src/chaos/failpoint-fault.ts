import { FAILPOINT_NAMES } from '../storage/index.js';
import type { Action } from './actions.js';
import { InvalidFaultError } from './errors.js';
import type { PlanContext, PlannedFault } from './plan.js';
import { resolveMemberTargets } from './targets.js';

/**
 * A storage failpoint switched on in running members through their admin
 * call (POST /debug/failpoints on the client port; the member must have been
 * started with --enable-failpoint-api or KEEL_FAILPOINT_API=1) and switched
 * off when the lease ends. A member that crashed on it comes back without
 * it (failpoints set at run time live in memory only), so the undo counts a
 * member that does not answer as done.
 */
export interface FailpointFaultSpec {
  readonly kind: 'failpoint';
  readonly target: string;
  /** One of the storage layer's failpoints (wal-before-fsync, apply-after, ...). */
  readonly name: string;
  /** crash, pause, throw or sleep(ms), each with an optional @n (fire on the n-th hit only). */
  readonly action: string;
  readonly durationMs: number;
}

const ACTION = /^(crash|pause|throw|sleep\(\d+\))(@[1-9]\d*)?$/;

export async function planFailpoint(spec: FailpointFaultSpec, context: PlanContext): Promise<PlannedFault> {
  if (!(FAILPOINT_NAMES as readonly string[]).includes(spec.name)) throw new InvalidFaultError(`unknown failpoint ${JSON.stringify(spec.name)}; known: ${FAILPOINT_NAMES.join(', ')}`);
  if (typeof spec.action !== 'string' || !ACTION.test(spec.action)) throw new InvalidFaultError(`failpoint action ${JSON.stringify(spec.action)}: expected crash, pause, throw or sleep(ms), with an optional @n`);
  if (spec.durationMs === undefined) throw new InvalidFaultError('a failpoint fault needs a duration (its lease)');
  const members = await resolveMemberTargets(spec.target, context.view, context.random, "failpoints are set through a member's client port");
  const call = (url: string, action: string, downOk: boolean): Action => ({ op: 'http', url: `${url}/debug/failpoints`, body: { name: spec.name, action }, ...(downOk ? { downOk } : {}) });
  return {
    kind: 'failpoint',
    description: `failpoint ${spec.name}=${spec.action} on ${members.map((target) => target.label).join(', ')} for ${spec.durationMs} ms`,
    inject: members.map((target) => call(target.member!.clientUrl, spec.action, false)),
    undo: members.map((target) => call(target.member!.clientUrl, 'off', true)),
    durationMs: spec.durationMs,
    notes: [],
  };
}
