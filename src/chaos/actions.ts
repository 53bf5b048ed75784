import { spawnSync } from 'node:child_process';
import { constants } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { CommandFailedError, FailpointCallError, FileWriteError } from './errors.js';
import { COMMAND_TIMEOUT_MS, MEMBER_CALL_TIMEOUT_MS } from './limits.js';
import { isSameProcess } from './process-identity.js';

/**
 * One step of injecting or undoing a fault, as data: a plan is a list of
 * them (what --dry-run prints), a fault record keeps the undo steps on disk
 * (what the watchdog and `keel chaos heal` run after any crash). Undo steps
 * are idempotent: running one twice, or on a process or rule already gone,
 * is not an error.
 */
export type Action =
  | {
    readonly op: 'signal';
    readonly pid: number;
    readonly signal: 'SIGKILL' | 'SIGTERM' | 'SIGSTOP' | 'SIGCONT';
    /** The process's start time when the fault was planned: a reused pid is left alone. */
    readonly startTime?: string;
    /** Signal the process group -pid (stress-ng and its workers). */
    readonly group?: boolean;
    readonly label: string;
  }
  /** A host command, argv only (no shell). `absentOk` matches output that means "already gone" in an undo. */
  | { readonly op: 'run'; readonly argv: readonly string[]; readonly absentOk?: string }
  /** A JSON POST; `downOk`: a member that does not answer counts as "already gone" (a failpoint dies with its process). */
  | { readonly op: 'http'; readonly url: string; readonly body: unknown; readonly downOk?: boolean }
  /**
   * Writes `text` to an existing file (never creates one: a control file
   * such as faultfs's `<mount>/.faultfs` that is missing means its mount is
   * gone). `absentOk`: a missing file, or a mount whose process is gone,
   * counts as "already gone" (an undo).
   */
  | { readonly op: 'write-file'; readonly path: string; readonly text: string; readonly absentOk?: boolean };

/** What running one action did. */
export type ActionOutcome = { readonly action: Action; readonly result: 'done' | 'gone' };

/** Prints an action as a line of a plan. */
export function describeAction(action: Action): string {
  switch (action.op) {
    case 'signal':
      return `${action.signal} ${action.group ? `process group ${action.pid}` : `pid ${action.pid}`} (${action.label})`;
    case 'run':
      return action.argv.join(' ');
    case 'http':
      return `POST ${action.url} ${JSON.stringify(action.body)}`;
    case 'write-file':
      return `write ${JSON.stringify(action.text.trim())} to ${action.path}`;
  }
}

/**
 * Runs one action. A process that is gone (or whose pid now names another
 * process) gives 'gone' rather than an error: the fault is reported, not
 * retried. A command or call that fails throws a typed error.
 */
export async function runAction(action: Action): Promise<ActionOutcome> {
  switch (action.op) {
    case 'signal':
      return { action, result: sendSignal(action) ? 'done' : 'gone' };
    case 'run':
      return { action, result: runCommand(action.argv, action.absentOk) };
    case 'http':
      return { action, result: await postJson(action.url, action.body, action.downOk === true) };
    case 'write-file':
      return { action, result: await writeExisting(action.path, action.text, action.absentOk === true) };
  }
}

/** errno codes that mean the file, or the mount it lived on, is gone. */
const GONE_CODES: readonly string[] = ['ENOENT', 'ENOTDIR', 'ENOTCONN'];

async function writeExisting(path: string, text: string, absentOk: boolean): Promise<'done' | 'gone'> {
  try {
    // No O_CREAT: writing into an unmounted mount point must not leave a file there.
    await writeFile(path, text, { flag: constants.O_WRONLY | constants.O_TRUNC });
    return 'done';
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? '';
    if (absentOk && GONE_CODES.includes(code)) return 'gone';
    throw new FileWriteError(path, (error as Error).message);
  }
}

function sendSignal(action: Extract<Action, { op: 'signal' }>): boolean {
  if (!isSameProcess(action.pid, action.startTime)) return false;
  try {
    process.kill(action.group ? -action.pid : action.pid, action.signal);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw error;
  }
}

/** Runs a host command with a deadline; output matching `absentOk` means "already gone". */
export function runCommand(argv: readonly string[], absentOk?: string): 'done' | 'gone' {
  const result = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: COMMAND_TIMEOUT_MS });
  if (result.status === 0) return 'done';
  const output = `${result.stderr ?? ''}${result.stdout ?? ''}${result.error ? result.error.message : ''}`;
  if (absentOk !== undefined && new RegExp(absentOk, 'i').test(output)) return 'gone';
  throw new CommandFailedError(argv, output);
}

/** Runs a host command and returns its standard output (for listing tables, qdiscs, namespaces). */
export function commandOutput(argv: readonly string[]): string {
  const result = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: COMMAND_TIMEOUT_MS });
  if (result.status !== 0) throw new CommandFailedError(argv, `${result.stderr ?? ''}${result.error ? result.error.message : ''}`);
  return result.stdout;
}

async function postJson(url: string, body: unknown, downOk: boolean): Promise<'done' | 'gone'> {
  let response: Response;
  try {
    response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(MEMBER_CALL_TIMEOUT_MS) });
  } catch (error) {
    if (downOk) return 'gone';
    throw new FailpointCallError(url, 0, (error as Error).message);
  }
  const text = await response.text();
  if (!response.ok) throw new FailpointCallError(url, response.status, text);
  return 'done';
}
