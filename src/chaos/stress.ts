import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { InvalidFaultError, UnsupportedError } from './errors.js';
import type { PlanContext, PlannedFault } from './plan.js';
import { processStartTime } from './process-identity.js';
import { parseSelector, resolveTargets } from './targets.js';

/**
 * CPU and memory pressure with Debian's stress-ng, bounded twice: its own
 * --timeout (the lease, rounded up), so it ends even if the controller and
 * the watchdog are both gone, and the lease's undo, which kills its process
 * group. With a target, it runs in the target's cgroup (v2): it competes
 * with the member for that cgroup's CPU and memory limits, as a noisy
 * neighbour inside the same container would.
 */
export interface StressFaultSpec {
  readonly kind: 'stress';
  /** CPU workers (stress-ng --cpu). */
  readonly cpuWorkers?: number;
  /** Load each CPU worker aims for, in percent (--cpu-load). */
  readonly cpuLoadPercent?: number;
  /** Memory workers (--vm), each touching vmBytes. */
  readonly vmWorkers?: number;
  readonly vmBytes?: number;
  /** Run in this member's (or pid's) cgroup; on the host otherwise. */
  readonly target?: string;
  readonly durationMs: number;
}

const WORKERS_MAX = 64;
const VM_BYTES_MAX = 4 * 1024 ** 3;
const STRESS_NG = '/usr/bin/stress-ng';

function count(name: string, value: number | undefined, max: number): number {
  if (value === undefined) return 0;
  if (!Number.isInteger(value) || value < 0 || value > max) throw new InvalidFaultError(`${name} is an integer in [0, ${max}]`);
  return value;
}

/** The stress-ng command line for `spec` (pure). */
export function stressArguments(spec: StressFaultSpec): string[] {
  const cpu = count('cpuWorkers', spec.cpuWorkers, WORKERS_MAX);
  const vm = count('vmWorkers', spec.vmWorkers, WORKERS_MAX);
  if (cpu + vm === 0) throw new InvalidFaultError('stress needs cpuWorkers or vmWorkers');
  const load = spec.cpuLoadPercent === undefined ? undefined : count('cpuLoadPercent', spec.cpuLoadPercent, 100);
  const vmBytes = vm > 0 ? count('vmBytes', spec.vmBytes ?? 64 * 1024 ** 2, VM_BYTES_MAX) : 0;
  return [
    ...(cpu > 0 ? ['--cpu', String(cpu), ...(load !== undefined ? ['--cpu-load', String(load)] : [])] : []),
    ...(vm > 0 ? ['--vm', String(vm), '--vm-bytes', `${vmBytes}`] : []),
    '--timeout', `${Math.ceil(spec.durationMs / 1000) + 1}s`,
    '--quiet',
  ];
}

/** The cgroup v2 directory of `pid`, when it has one this process can write to. */
function cgroupOf(pid: number): string | undefined {
  try {
    const line = readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n').find((entry) => entry.startsWith('0::'));
    const dir = line === undefined ? undefined : `/sys/fs/cgroup${line.slice(3)}`;
    return dir !== undefined && existsSync(`${dir}/cgroup.procs`) ? dir : undefined;
  } catch {
    return undefined;
  }
}

export async function planStress(spec: StressFaultSpec, context: PlanContext): Promise<PlannedFault> {
  if (!existsSync(STRESS_NG)) throw new UnsupportedError('stress needs stress-ng (apt-get install stress-ng)');
  const args = stressArguments(spec);
  let cgroup: string | undefined;
  let where = 'on the host';
  if (spec.target !== undefined) {
    const [target] = await resolveTargets(parseSelector(spec.target), spec.target, context.view, context.random);
    if (!target || target.pid === null) throw new InvalidFaultError(`stress: ${spec.target} is not running`);
    cgroup = cgroupOf(target.pid);
    where = cgroup ? `in ${target.label}'s cgroup ${cgroup}` : `on the host (${target.label} has no cgroup v2 directory here)`;
  }
  // A shell moves itself into the cgroup and then becomes stress-ng, so the workers it forks start there.
  const argv = cgroup ? ['/bin/sh', '-c', `echo $$ > "$0/cgroup.procs" && exec ${STRESS_NG} "$@"`, cgroup, ...args] : [STRESS_NG, ...args];
  return {
    kind: 'stress',
    description: `stress-ng ${args.join(' ')} ${where} for ${spec.durationMs} ms`,
    inject: [],
    undo: [],
    durationMs: spec.durationMs,
    notes: [],
    custom: {
      description: `start ${argv.join(' ')} (its own process group, killed when the lease ends)`,
      run: async (addUndo) => {
        const child = spawn(argv[0]!, argv.slice(1), { detached: true, stdio: 'ignore' });
        const pid = await new Promise<number>((resolve, reject) => {
          child.once('spawn', () => resolve(child.pid!));
          child.once('error', reject);
        });
        child.unref();
        const startTime = processStartTime(pid);
        addUndo([{ op: 'signal', pid, signal: 'SIGKILL', group: true, label: 'stress-ng', ...(startTime !== undefined ? { startTime } : {}) }]);
        return [`stress-ng running as pid ${pid} ${where}`];
      },
    },
  };
}
