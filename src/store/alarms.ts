import { InvalidRequestError, TooManyAlarmsError } from './errors.js';
import { ALARMS_MAX } from './limits.js';
import type { ResponseHeader, RequestOp, TxnRequest } from './types.js';

/**
 * etcd's alarms (etcdserver/api/v3alarm): a set of (member, type) pairs that
 * is part of the replicated state, so every member refuses the same writes
 * while one is active and the set survives snapshots and restarts.
 *
 * A NOSPACE alarm caps the store as etcd's applierV3Capped does: every
 * command that can grow the space (a put, a txn with a put in any branch,
 * a lease grant) is refused, while deletes, compaction and lease revokes
 * still apply so an operator can free space and then disarm.
 */

/** etcd's AlarmType, by its proto number (NONE = 0 means "any" in a GET). */
export const ALARM_TYPES = ['NONE', 'NOSPACE', 'CORRUPT'] as const;
export type AlarmType = (typeof ALARM_TYPES)[number];

export interface AlarmMember {
  /** The member that raised it (etcd's uint64 member id). */
  readonly memberId: bigint;
  readonly alarm: Exclude<AlarmType, 'NONE'>;
}

/** The replicated part of etcd's AlarmRequest: GET is a read, served from the applied state. */
export interface AlarmRequest {
  readonly action: 'activate' | 'deactivate';
  readonly memberId: bigint;
  readonly alarm: AlarmType;
}

export interface AlarmResponse {
  header: ResponseHeader;
  /** The alarm activated or deactivated (none when a deactivation found nothing), as etcd answers. */
  alarms: AlarmMember[];
}

const UINT64_MAX = (1n << 64n) - 1n;

/** The active alarms, kept in a canonical order (type, then member id) so snapshots and listings are deterministic. */
export class AlarmSet {
  readonly #alarms = new Map<string, AlarmMember>();

  get size(): number {
    return this.#alarms.size;
  }

  /** True while an alarm of this type is active for any member. */
  has(alarm: Exclude<AlarmType, 'NONE'>): boolean {
    for (const member of this.#alarms.values()) if (member.alarm === alarm) return true;
    return false;
  }

  /** Active alarms of one type, or of every type for NONE, in canonical order. */
  list(alarm: AlarmType = 'NONE'): AlarmMember[] {
    return [...this.#alarms.values()].filter((member) => alarm === 'NONE' || member.alarm === alarm).sort(compareAlarms);
  }

  /** Applies a replicated alarm request; returns what etcd's applier answers. */
  apply(request: AlarmRequest): AlarmMember[] {
    checkAlarmRequest(request);
    if (request.alarm === 'NONE') {
      // etcd keeps NONE alarms apart and finds none to deactivate; activating one is meaningless, so it is refused.
      if (request.action === 'activate') throw new InvalidRequestError('alarm type NONE cannot be activated');
      return [];
    }
    const member: AlarmMember = { memberId: request.memberId, alarm: request.alarm };
    const key = keyOf(member);
    const existing = this.#alarms.get(key);
    if (request.action === 'deactivate') {
      if (!existing) return [];
      this.#alarms.delete(key);
      return [existing];
    }
    if (existing) return [existing];
    if (this.#alarms.size >= ALARMS_MAX) throw new TooManyAlarmsError(ALARMS_MAX);
    this.#alarms.set(key, member);
    return [member];
  }

  /** Replaces the set (snapshot restore). */
  load(alarms: readonly AlarmMember[]): void {
    this.#alarms.clear();
    for (const member of alarms) this.#alarms.set(keyOf(member), member);
  }
}

export function checkAlarmRequest(request: AlarmRequest): void {
  if (request.action !== 'activate' && request.action !== 'deactivate') throw new InvalidRequestError('alarm action must be activate or deactivate');
  if (!ALARM_TYPES.includes(request.alarm)) throw new InvalidRequestError(`unknown alarm type ${String(request.alarm)}`);
  if (request.memberId < 0n || request.memberId > UINT64_MAX) throw new InvalidRequestError('alarm member id must be a uint64');
}

export function compareAlarms(a: AlarmMember, b: AlarmMember): number {
  const byType = ALARM_TYPES.indexOf(a.alarm) - ALARM_TYPES.indexOf(b.alarm);
  if (byType !== 0) return byType;
  return a.memberId < b.memberId ? -1 : a.memberId > b.memberId ? 1 : 0;
}

function keyOf(member: AlarmMember): string {
  return `${member.alarm}/${member.memberId}`;
}

/**
 * True when a txn puts a key in any branch at any depth. etcd's quota cost
 * counts only top-level puts; keel counts nested ones too, since they grow
 * the space just the same.
 */
export function txnPuts(request: TxnRequest): boolean {
  const puts = (op: RequestOp): boolean => op.type === 'put' || (op.type === 'txn' && txnPuts(op.request));
  return request.success.some(puts) || request.failure.some(puts);
}
