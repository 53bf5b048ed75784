import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { WATCHDOG_IDLE_EXIT_MS, WATCHDOG_POLL_MS } from './limits.js';
import { processExists } from './process-identity.js';
import { FaultStore } from './state.js';
import { undoFault } from './undo.js';

/** Undo attempts on one fault before the watchdog sets it aside in `<state>/failed/` and says so in its log. */
const UNDO_ATTEMPTS_MAX = 20;

/**
 * The watchdog: a detached process in its own process group, started by the
 * first fault of a state dir, that undoes each fault when its lease ends,
 * whatever became of the controller that injected it (SIGKILLed, its
 * terminal closed, its test runner gone). It reads the fault records from
 * disk on every poll, so it needs nothing from the controller but the state
 * dir, and it exits after a spell with no fault. SIGTERM or SIGINT make it
 * undo every fault at once and exit.
 */
export async function runWatchdog(stateDir: string): Promise<void> {
  const store = new FaultStore(stateDir);
  const attempts = new Map<string, number>();
  let healAll = false;
  const onSignal = (): void => {
    healAll = true;
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  process.on('SIGHUP', () => undefined); // the controller's terminal closing is no reason to stop
  writeFileSync(store.watchdogPidFile, `${process.pid}\n`);
  log(`watchdog ${process.pid} watching ${stateDir}`);
  let idleSince = Date.now();
  for (;;) {
    const records = store.list();
    const now = Date.now();
    for (const record of records) {
      if (!healAll && record.expiresAt > now) continue;
      const report = await undoFault(store, record);
      for (const step of report.steps) log(`${record.id} (${record.description}) lease ended: ${step}`);
      if (report.errors.length === 0) continue;
      const tries = (attempts.get(record.id) ?? 0) + 1;
      attempts.set(record.id, tries);
      for (const error of report.errors) log(`${record.id}: undo failed (attempt ${tries}): ${error}`);
      if (tries >= UNDO_ATTEMPTS_MAX) {
        store.giveUp(record.id);
        log(`${record.id}: gave up after ${tries} attempts; moved to ${stateDir}/failed; run keel chaos heal`);
      }
    }
    if (healAll) break;
    if (records.length > 0) idleSince = now;
    else if (now - idleSince >= WATCHDOG_IDLE_EXIT_MS && retire(store)) break;
    await sleep(WATCHDOG_POLL_MS);
  }
  log(`watchdog ${process.pid} exits`);
}

/**
 * Leaves without racing a new fault: the pid file goes first, then the fault
 * dir is checked once more. A controller writes its record before it looks
 * for the pid file, so either this check sees the record (and the watchdog
 * stays), or the controller finds no pid file and starts a new watchdog.
 */
function retire(store: FaultStore): boolean {
  if (readPid(store.watchdogPidFile) === process.pid) rmSync(store.watchdogPidFile, { force: true });
  if (store.list().length === 0) return true;
  writeFileSync(store.watchdogPidFile, `${process.pid}\n`);
  return false;
}

function log(line: string): void {
  process.stdout.write(`${new Date().toISOString()} ${line}\n`);
}

function readPid(path: string): number | undefined {
  try {
    const pid = Number(readFileSync(path, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function isWatchdog(pid: number): boolean {
  if (!processExists(pid)) return false;
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('watchdog-main');
  } catch {
    return true; // no /proc: trust the pid file
  }
}

/** The entry script and the node flags to run it (tsx when keel runs from its TypeScript sources, as in tests). */
function watchdogEntry(): { script: string; nodeArgs: string[] } {
  const fromSource = import.meta.url.endsWith('.ts');
  const script = new URL(`./watchdog-main.${fromSource ? 'ts' : 'js'}`, import.meta.url).pathname;
  return { script, nodeArgs: fromSource ? ['--import', import.meta.resolve('tsx')] : [] };
}

/**
 * The watchdog of `store`'s state dir: the running one, or a new one,
 * detached (its own process group and session, so a signal to the
 * controller's group or terminal does not reach it) and unreferenced (the
 * controller exits without waiting for it). Returns its pid.
 */
export function ensureWatchdog(store: FaultStore): number {
  const running = readPid(store.watchdogPidFile);
  if (running !== undefined && isWatchdog(running)) return running;
  const { script, nodeArgs } = watchdogEntry();
  const logFd = openSync(store.watchdogLog, 'a');
  const child = spawn(process.execPath, [...nodeArgs, script, store.dir], { detached: true, stdio: ['ignore', logFd, logFd], cwd: '/' });
  closeSync(logFd);
  child.unref();
  // The new watchdog writes its own pid file at start; writing it here too closes the gap in which a second controller would start another.
  writeFileSync(store.watchdogPidFile, `${child.pid}\n`);
  return child.pid!;
}
