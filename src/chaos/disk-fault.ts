import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Action } from './actions.js';
import { InvalidFaultError, UnsupportedError } from './errors.js';
import { FAULTFS_CONTROL_FILE, faultsControlText, type DiskFaults } from './faultfs.js';
import type { PlanContext, PlannedFault } from './plan.js';
import { resolveMemberTargets, type Target } from './targets.js';

/**
 * Disk faults on running members through their faultfs mounts (`keel up
 * --faultfs` puts each member's data dir on its own): slow fsyncs and
 * writes, EIO on fsyncs or writes (the next n, or with a probability), and
 * ENOSPC past a size. Injected by writing the mount's control file
 * (`<mount>/.faultfs`, in force when the write returns); undone by writing
 * `clear`, which turns every fault of that mount off, including any set by
 * hand or by an overlapping disk fault. A mount that is gone (keel up
 * stopped) has no fault left, so the undo counts it as done.
 *
 * An fsync EIO is fatal to a keel member (its storage refuses further
 * writes; it exits 1) and keel up restarts it; a fault still in force then
 * (a probability, a count not yet used up) meets the member again.
 */
export interface DiskFaultSpec {
  readonly kind: 'disk';
  readonly target: string;
  /** Every fsync (and fdatasync, and a directory's fsync) syncs, then sleeps this long. */
  readonly fsyncDelayMs?: number;
  /** Every write sleeps this long first. */
  readonly writeDelayMs?: number;
  /** `next:<n>`: the next n file fsyncs fail with EIO; `p:<probability>`: each does with that probability (drawn from a seed the chaos seed picks). */
  readonly fsyncEio?: string;
  /** The same for writes. */
  readonly writeEio?: string;
  /** A write that would grow the data dir's apparent size (the sum of its files' sizes) past this many bytes fails with ENOSPC. */
  readonly enospcAfterBytes?: number;
  readonly durationMs: number;
}

/** How an EIO fault is written: the next n calls, or each with a probability. */
export type EioRule = { readonly next: number } | { readonly probability: number };

const EIO = /^(?:next:(\d+)|p:(\d*\.?\d+(?:e-?\d+)?))$/;

/** Parses `next:3` or `p:0.1` (pure); InvalidFaultError (KEEL_CHAOS_INVALID_FAULT) otherwise. */
export function parseEioRule(field: string, text: unknown): EioRule {
  const match = typeof text === 'string' ? EIO.exec(text.trim()) : null;
  if (!match) throw new InvalidFaultError(`${field} ${JSON.stringify(text)}: expected next:<n> (the next n calls fail) or p:<probability> (each fails with it)`);
  if (match[1] !== undefined) {
    const next = Number(match[1]);
    if (next < 1) throw new InvalidFaultError(`${field} ${JSON.stringify(text)}: next:<n> needs n of 1 or more`);
    return { next };
  }
  const probability = Number(match[2]);
  if (!(probability > 0 && probability <= 1)) throw new InvalidFaultError(`${field} ${JSON.stringify(text)}: a probability is more than 0 and at most 1`);
  return { probability };
}

function delayUs(field: string, ms: unknown): number | undefined {
  if (ms === undefined) return undefined;
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) throw new InvalidFaultError(`${field} is a number of ms of 0 or more, not ${JSON.stringify(ms)}`);
  return Math.round(ms * 1_000);
}

/**
 * The faultfs settings `spec` asks for (pure but for `seed`, which is drawn
 * only when a probability needs one). Throws InvalidFaultError on a bad or
 * missing value, or one past faultfs's bounds.
 */
export function diskFaultsOf(spec: DiskFaultSpec, seed: () => number): DiskFaults {
  const fsyncEio = spec.fsyncEio === undefined ? undefined : parseEioRule('fsyncEio', spec.fsyncEio);
  const writeEio = spec.writeEio === undefined ? undefined : parseEioRule('writeEio', spec.writeEio);
  const enospc = spec.enospcAfterBytes;
  if (enospc !== undefined && !(Number.isSafeInteger(enospc) && enospc >= 0)) throw new InvalidFaultError(`enospcAfterBytes is an integer number of bytes of 0 or more, not ${JSON.stringify(enospc)}`);
  const faults: DiskFaults = {
    ...optional('fsyncDelayUs', delayUs('fsyncDelayMs', spec.fsyncDelayMs)),
    ...optional('writeDelayUs', delayUs('writeDelayMs', spec.writeDelayMs)),
    ...(fsyncEio && 'next' in fsyncEio ? { fsyncEioNext: fsyncEio.next } : {}),
    ...(fsyncEio && 'probability' in fsyncEio ? { fsyncEioProbability: fsyncEio.probability } : {}),
    ...(writeEio && 'next' in writeEio ? { writeEioNext: writeEio.next } : {}),
    ...(writeEio && 'probability' in writeEio ? { writeEioProbability: writeEio.probability } : {}),
    ...optional('spaceLimitBytes', enospc),
  };
  if (Object.keys(faults).length === 0) throw new InvalidFaultError('a disk fault needs at least one of fsyncDelayMs, writeDelayMs, fsyncEio, writeEio, enospcAfterBytes');
  faultsControlText(faults); // throws on a value past faultfs's bounds (a delay over a minute)
  const probable = faults.fsyncEioProbability !== undefined || faults.writeEioProbability !== undefined;
  return probable ? { ...faults, seed: seed() } : faults;
}

function optional<K extends keyof DiskFaults>(key: K, value: DiskFaults[K] | undefined): Partial<DiskFaults> {
  return value === undefined ? {} : { [key]: value };
}

function describeFaults(faults: DiskFaults): string {
  const parts = [
    faults.fsyncDelayUs !== undefined ? `fsync +${faults.fsyncDelayUs / 1_000} ms` : '',
    faults.writeDelayUs !== undefined ? `write +${faults.writeDelayUs / 1_000} ms` : '',
    faults.fsyncEioNext !== undefined ? `EIO on the next ${faults.fsyncEioNext} fsyncs` : '',
    faults.fsyncEioProbability !== undefined ? `EIO on fsync with p=${faults.fsyncEioProbability}` : '',
    faults.writeEioNext !== undefined ? `EIO on the next ${faults.writeEioNext} writes` : '',
    faults.writeEioProbability !== undefined ? `EIO on write with p=${faults.writeEioProbability}` : '',
    faults.spaceLimitBytes !== undefined && faults.spaceLimitBytes !== null ? `ENOSPC past ${faults.spaceLimitBytes} bytes` : '',
  ];
  return parts.filter(Boolean).join(', ');
}

/** The members `spec.target` names, each with its mounted faultfs; refuses any without one. */
async function mountedMembers(spec: DiskFaultSpec, context: PlanContext): Promise<(Target & { readonly mount: string })[]> {
  const members = await resolveMemberTargets(spec.target, context.view, context.random, "disk faults hit a member's faultfs mount");
  const bare = members.filter((target) => target.member!.faultfs === undefined);
  if (bare.length > 0) throw new UnsupportedError(`disk faults need the member's data dir on faultfs: ${bare.map((target) => target.member!.id).join(', ')} ${bare.length > 1 ? 'have' : 'has'} no faultfs mount; start the cluster with keel up --faultfs (root)`);
  const unmounted = members.filter((target) => !existsSync(join(target.member!.faultfs!, FAULTFS_CONTROL_FILE)));
  if (unmounted.length > 0) throw new UnsupportedError(`no faultfs answers at ${unmounted.map((target) => target.member!.faultfs).join(', ')} (has keel up --faultfs stopped?)`);
  return members.map((target) => ({ ...target, mount: target.member!.faultfs! }));
}

export async function planDiskFault(spec: DiskFaultSpec, context: PlanContext): Promise<PlannedFault> {
  if (spec.durationMs === undefined) throw new InvalidFaultError('a disk fault needs a duration (its lease)');
  const faults = diskFaultsOf(spec, () => Math.floor(context.random.next() * 2 ** 31));
  const text = faultsControlText(faults);
  const members = await mountedMembers(spec, context);
  const write = (mount: string, body: string, absentOk: boolean): Action => ({ op: 'write-file', path: join(mount, FAULTFS_CONTROL_FILE), text: body, ...(absentOk ? { absentOk } : {}) });
  return {
    kind: 'disk',
    description: `disk ${describeFaults(faults)} on ${members.map((target) => target.label).join(', ')} for ${spec.durationMs} ms`,
    inject: members.map((target) => write(target.mount, text, false)),
    undo: members.map((target) => write(target.mount, 'clear\n', true)),
    durationMs: spec.durationMs,
    notes: [],
  };
}
