import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Action } from './actions.js';
import { InvalidFaultError } from './errors.js';
import { RESTART_STOP_GRACE_MS, RESTART_SUPERVISOR_WAIT_MS } from './limits.js';
import type { PlanContext, PlannedFault } from './plan.js';
import { isSameProcess, processExists, processStartTime } from './process-identity.js';
import { restartRequestPath } from './cluster-view.js';
import { parseSelector, resolveTargets, type Target } from './targets.js';

/** Process faults: what each does to its targets. */
export const PROCESS_FAULT_KINDS = ['kill', 'term', 'pause', 'restart'] as const;
export type ProcessFaultKind = (typeof PROCESS_FAULT_KINDS)[number];

export interface ProcessFaultSpec {
  readonly kind: ProcessFaultKind;
  /** A selector: leader, follower, followers, all, zone:<z>, gateway, a member id, pid:<n>. */
  readonly target: string;
  /** pause only: how long the targets stay stopped (the lease). */
  readonly durationMs?: number;
  /**
   * restart only: a planned restart. A keel up member is asked to stop with
   * SIGTERM (it drains when keel up runs the gateway) and keel up starts it
   * again; without it the member is SIGKILLed (a crash restart).
   */
  readonly graceful?: boolean;
}

const POLL_MS = 50;

/** Splits targets into those with a live process and lines reporting the others (a member down now is reported, not waited for). */
function liveTargets(targets: readonly Target[], notes: string[]): { target: Target; pid: number; startTime?: string }[] {
  const live: { target: Target; pid: number; startTime?: string }[] = [];
  for (const target of targets) {
    if (target.pid === null || !processExists(target.pid)) {
      notes.push(`${target.label}: not running${target.pid === null ? '' : ` (pid ${target.pid} is gone)`}; skipped`);
      continue;
    }
    const startTime = processStartTime(target.pid);
    live.push({ target, pid: target.pid, ...(startTime !== undefined ? { startTime } : {}) });
  }
  return live;
}

function signalAction(entry: { target: Target; pid: number; startTime?: string }, signal: 'SIGKILL' | 'SIGTERM' | 'SIGSTOP' | 'SIGCONT'): Action {
  return { op: 'signal', pid: entry.pid, signal, label: entry.target.label, ...(entry.startTime !== undefined ? { startTime: entry.startTime } : {}) };
}

export async function planProcessFault(spec: ProcessFaultSpec, context: PlanContext): Promise<PlannedFault> {
  const selector = parseSelector(spec.target);
  if (spec.kind === 'pause' && spec.durationMs === undefined) throw new InvalidFaultError('pause needs a duration (its lease)');
  if (spec.kind !== 'pause' && spec.durationMs !== undefined) throw new InvalidFaultError(`${spec.kind} is instant: it takes no duration`);
  if (spec.graceful !== undefined && (spec.kind !== 'restart' || typeof spec.graceful !== 'boolean')) throw new InvalidFaultError('graceful is a restart option (true or false)');
  const targets = await resolveTargets(selector, spec.target, context.view, context.random);
  const notes: string[] = [];
  const live = liveTargets(targets, notes);
  const names = targets.map((target) => target.label).join(', ');
  switch (spec.kind) {
    case 'kill':
      return { kind: 'kill', description: `kill -9 ${names}`, inject: live.map((entry) => signalAction(entry, 'SIGKILL')), undo: [], notes };
    case 'term':
      return { kind: 'term', description: `SIGTERM ${names}`, inject: live.map((entry) => signalAction(entry, 'SIGTERM')), undo: [], notes };
    case 'pause':
      return {
        kind: 'pause',
        description: `pause ${names} for ${spec.durationMs} ms`,
        inject: live.map((entry) => signalAction(entry, 'SIGSTOP')),
        undo: live.map((entry) => signalAction(entry, 'SIGCONT')),
        durationMs: spec.durationMs!,
        notes,
      };
    case 'restart':
      return planRestart(names, live, notes, context, spec.graceful === true);
  }
}

/**
 * A restart. A keel up member (its supervisor alive) is killed with SIGKILL
 * and keel up starts it again: the wait ends when cluster.json lists a new
 * pid for it. `graceful`: a restart request is left for keel up beside
 * cluster.json and the member gets SIGTERM instead, so it drains and exits
 * cleanly before keel up starts it again. Any other process is stopped with
 * SIGTERM (SIGKILL after a grace) and started again from what /proc recorded
 * of it: its command line, working directory and environment (its output
 * goes nowhere; it is detached).
 */
function planRestart(names: string, live: readonly { target: Target; pid: number; startTime?: string }[], notes: string[], context: PlanContext, graceful: boolean): PlannedFault {
  const supervised = context.view?.supervisorPid !== undefined && processExists(context.view.supervisorPid);
  const byKeelUp = live.filter((entry) => supervised && entry.target.member !== undefined);
  const bySelf = live.filter((entry) => !byKeelUp.includes(entry));
  const launches = bySelf.map((entry) => ({ entry, launch: launchOf(entry.pid) }));
  const upDir = context.view?.clusterFile === undefined ? undefined : dirname(context.view.clusterFile);
  // No cluster.json: an in-process supervisor (an experiment run's, supervised.ts) restarts whatever exits, so SIGTERM alone is the graceful restart.
  const inProcess = context.view?.clusterFile === undefined && context.reload !== undefined;
  if (graceful && byKeelUp.length > 0 && upDir === undefined && !inProcess) throw new InvalidFaultError('a graceful restart of keel up members needs its data dir (cluster.json)');
  return {
    kind: 'restart',
    description: `${graceful ? 'graceful restart' : 'restart'} ${names}`,
    inject: graceful ? [] : byKeelUp.map((entry) => signalAction(entry, 'SIGKILL')),
    undo: [],
    notes,
    custom: {
      description: [
        ...byKeelUp.map((entry) => (graceful ? `ask keel up to restart ${entry.target.label}, SIGTERM it (it drains), wait for keel up to start it again` : `wait for keel up to start ${entry.target.label} again`)),
        ...launches.map(({ entry, launch }) => `SIGTERM ${entry.target.label}, then start again: ${launch.argv.join(' ')} (in ${launch.cwd})`),
      ].join('; '),
      run: async () => {
        const lines: string[] = [];
        for (const entry of byKeelUp) {
          if (graceful) requestSupervisorRestart(entry, upDir);
          lines.push(await awaitSupervisorRestart(entry, context));
        }
        for (const { entry, launch } of launches) lines.push(await restartProcess(entry, launch));
        return lines;
      },
    },
  };
}

interface Launch {
  readonly argv: string[];
  readonly cwd: string;
  readonly env: Record<string, string>;
}

function launchOf(pid: number): Launch {
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter((part) => part !== '');
    const env = Object.fromEntries(
      readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').filter((part) => part.includes('=')).map((part) => [part.slice(0, part.indexOf('=')), part.slice(part.indexOf('=') + 1)]),
    );
    if (argv.length === 0) throw new Error('empty command line (a kernel thread or a zombie)');
    return { argv, cwd: readlinkSync(`/proc/${pid}/cwd`), env };
  } catch (error) {
    throw new InvalidFaultError(`cannot restart pid ${pid}: /proc does not tell how it was started (${(error as Error).message})`);
  }
}

async function waitFor(check: () => boolean, timeoutMs: number): Promise<boolean> {
  for (const deadline = Date.now() + timeoutMs; Date.now() < deadline; await sleep(POLL_MS)) {
    if (check()) return true;
  }
  return check();
}

/** Leaves keel up the request to start the member again, then SIGTERMs it (a member gone meanwhile is restarted by keel up anyway). */
function requestSupervisorRestart(entry: { target: Target; pid: number; startTime?: string }, upDir: string | undefined): void {
  if (upDir !== undefined) {
    const path = restartRequestPath(upDir, entry.target.member!.id);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, `${new Date().toISOString()}\n`);
  }
  if (isSameProcess(entry.pid, entry.startTime)) process.kill(entry.pid, 'SIGTERM');
}

async function awaitSupervisorRestart(entry: { target: Target; pid: number }, context: PlanContext): Promise<string> {
  const id = entry.target.member!.id;
  let pid: number | null = null;
  const restarted = await waitFor(() => {
    try {
      pid = context.reload?.().members.find((member) => member.id === id)?.pid ?? null;
    } catch {
      pid = null; // cluster.json is being replaced
    }
    return pid !== null && pid !== entry.pid && processExists(pid);
  }, RESTART_SUPERVISOR_WAIT_MS);
  return restarted ? `${entry.target.label}: restarted by keel up as pid ${pid}` : `${entry.target.label}: killed; keel up did not start it again within ${RESTART_SUPERVISOR_WAIT_MS} ms`;
}

async function restartProcess(entry: { target: Target; pid: number; startTime?: string }, launch: Launch): Promise<string> {
  if (!isSameProcess(entry.pid, entry.startTime)) return `${entry.target.label}: gone before the restart; not started again`;
  process.kill(entry.pid, 'SIGTERM');
  if (!(await waitFor(() => !isSameProcess(entry.pid, entry.startTime), RESTART_STOP_GRACE_MS))) {
    process.kill(entry.pid, 'SIGKILL');
    await waitFor(() => !isSameProcess(entry.pid, entry.startTime), RESTART_STOP_GRACE_MS);
  }
  const child = spawn(launch.argv[0]!, launch.argv.slice(1), { cwd: launch.cwd, env: launch.env, detached: true, stdio: 'ignore' });
  const started = await new Promise<number | string>((resolve) => {
    child.once('spawn', () => resolve(child.pid!));
    child.once('error', (error) => resolve(error.message));
  });
  child.unref();
  return typeof started === 'number' ? `${entry.target.label}: started again as pid ${started}` : `${entry.target.label}: stopped, but could not start again: ${started}`;
}
