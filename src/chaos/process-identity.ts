import { readFileSync } from 'node:fs';

/**
 * Which process a pid names. A pid is reused once its process is gone, so a
 * fault record keeps the process's start time (field 22 of /proc/<pid>/stat,
 * in clock ticks since boot) beside its pid: undoing a pause sends SIGCONT
 * only if the pid still names the process that was paused.
 */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may hold spaces: count fields after its closing one.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19];
  } catch {
    return undefined;
  }
}

/** Whether `pid` names a live process (or a zombie not yet reaped) that we may signal. */
export function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Whether `pid` is still the process that started at `startTime` (when known; without /proc, only whether it lives). */
export function isSameProcess(pid: number, startTime: string | undefined): boolean {
  if (!processExists(pid)) return false;
  if (startTime === undefined) return true;
  const now = processStartTime(pid);
  return now === undefined || now === startTime;
}

/** Whether `pid` is stopped (state T: SIGSTOP). */
export function isStopped(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('T');
  } catch {
    return false;
  }
}
