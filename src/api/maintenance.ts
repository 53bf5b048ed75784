import type { KeelNode } from '../node/keel-node.js';
import { ALARM_TYPES } from '../store/alarms.js';
import type { AlarmMember, AlarmType } from '../store/alarms.js';
import { BadRequestError } from './errors.js';
import { header } from './json-codec.js';
import { ETCD_API_VERSION } from './version.js';

/**
 * etcd's Maintenance service over KeelNode, shared by the gRPC handlers and
 * the JSON gateway: both take the request as a plain object with proto field
 * names (etcd's gateway keeps them: memberID, targetID) and answer with one.
 * int64/uint64 travel as decimal strings, enums as names (numbers accepted);
 * bad input is a BadRequestError (INVALID_ARGUMENT), never a crash.
 */
type Body = Record<string, unknown>;

const ALARM_ACTIONS = ['GET', 'ACTIVATE', 'DEACTIVATE'] as const;
const UINT64_MAX = (1n << 64n) - 1n;

function object(raw: unknown): Body {
  if (raw === undefined || raw === null) return {};
  if (typeof raw !== 'object' || Array.isArray(raw) || raw instanceof Uint8Array) throw new BadRequestError('the request must be an object');
  return raw as Body;
}

/** An etcd uint64 (member ids): a decimal string or a safe integer; absent reads as 0. */
export function uint64Of(body: Body, field: string): bigint {
  const value = body[field];
  if (value === undefined || value === null || value === '') return 0n;
  let parsed: bigint | undefined;
  if (typeof value === 'string' && /^\d{1,20}$/.test(value)) parsed = BigInt(value);
  else if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) parsed = BigInt(value);
  if (parsed === undefined || parsed > UINT64_MAX) throw new BadRequestError(`${field} must be a uint64 (a decimal string)`);
  return parsed;
}

function enumOf<T extends string>(body: Body, field: string, names: readonly T[]): T {
  const value = body[field];
  if (value === undefined || value === null) return names[0]!;
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0 && value < names.length) return names[value]!;
  if (typeof value === 'string' && (names as readonly string[]).includes(value)) return value as T;
  throw new BadRequestError(`${field} must be one of ${names.join(', ')}`);
}

function alarmsJson(alarms: readonly AlarmMember[]): Body[] {
  return alarms.map((alarm) => ({ memberID: alarm.memberId.toString(), alarm: alarm.alarm }));
}

/** How etcd prints an alarm in Status.errors: the proto's compact text form, trailing space included. */
export function alarmText(alarm: AlarmMember): string {
  return `memberID:${alarm.memberId} alarm:${alarm.alarm} `;
}

/** True for ACTIVATE and DEACTIVATE (they change state: root only once auth is on); GET is open, as in etcd. Bad input reads as a change (the call then fails on it anyway). */
export function isAlarmChange(raw: unknown): boolean {
  try {
    return enumOf(object(raw), 'action', ALARM_ACTIONS) !== 'GET';
  } catch {
    return true;
  }
}

/** Maintenance.Alarm: GET lists (optionally one type), ACTIVATE/DEACTIVATE go through the log. */
export async function alarm(node: KeelNode, raw: unknown, timeoutMs: number): Promise<Body> {
  const body = object(raw);
  const action = enumOf(body, 'action', ALARM_ACTIONS);
  const type: AlarmType = enumOf(body, 'alarm', ALARM_TYPES);
  const memberId = uint64Of(body, 'memberID');
  if (action === 'GET') {
    const listed = await node.alarmList(timeoutMs);
    const alarms = listed.alarms.filter((member) => type === 'NONE' || member.alarm === type);
    return { header: header(listed.header.revision, node.headerContext()), alarms: alarmsJson(alarms) };
  }
  const response = await node.alarm({ action: action === 'ACTIVATE' ? 'activate' : 'deactivate', memberId, alarm: type }, timeoutMs);
  return { header: header(response.header.revision, node.headerContext()), alarms: alarmsJson(response.alarms) };
}

/**
 * Maintenance.Status. dbSize is what the member's raft data takes on disk
 * (WAL segments and snapshots: what Defragment shrinks), dbSizeInUse what
 * the key-value state counts against the space quota. errors lists "etcdserver:
 * no leader" when there is none and every active alarm, as etcd does.
 * `omitDefaults`: the JSON gateway leaves out empty and false fields.
 */
export function status(node: KeelNode, omitDefaults: boolean): Body {
  const status = node.status();
  const space = node.spaceUsage();
  const errors = [...(status.leader ? [] : ['etcdserver: no leader']), ...node.activeAlarms().map(alarmText)];
  const isLearner = status.learners.includes(status.id);
  return {
    header: header(status.revision, node.headerContext()),
    version: ETCD_API_VERSION,
    dbSize: String(space.diskBytes),
    dbSizeInUse: String(space.inUseBytes),
    leader: status.leader ? node.memberIdOf(status.leader).toString() : '0',
    raftIndex: String(status.commitIndex),
    raftTerm: String(status.term),
    raftAppliedIndex: String(status.appliedIndex),
    ...(omitDefaults && errors.length === 0 ? {} : { errors }),
    ...(omitDefaults && !isLearner ? {} : { isLearner }),
  };
}

/** Maintenance.Defragment: see KeelNode.defragment for what it reclaims. */
export async function defragment(node: KeelNode, raw: unknown): Promise<Body> {
  object(raw);
  await node.defragment();
  return { header: header(node.status().revision, node.headerContext()) };
}

/** Maintenance.MoveLeader: targetID is the uint64 member id MemberList reports. */
export async function moveLeader(node: KeelNode, raw: unknown, timeoutMs: number): Promise<Body> {
  const targetId = uint64Of(object(raw), 'targetID');
  await node.moveLeader(targetId, timeoutMs);
  return { header: header(node.status().revision, node.headerContext()) };
}
