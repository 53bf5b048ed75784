import { Command, InvalidArgumentError } from 'commander';
import { chaosRunCommand } from './chaos-run.js';
import { ChaosError, createChaos, type ChaosOptions, type Fault, type FaultSpec } from '../chaos/index.js';

/**
 * `keel chaos`: inject faults into a keel cluster (or any process) and undo
 * them. Every fault with a duration holds a lease that a detached watchdog
 * enforces, so a fault outlives no crash of this command; `keel chaos heal`
 * is the kill switch. See docs/chaos.md.
 *
 * Exit codes: 0 injected (or planned, with --dry-run; or healed), 1 refused
 * or failed (bad fault, selector or target; a host command failed), 3 nothing
 * was injected because every target was already down.
 */
export const EXIT_TARGETS_GONE = 3;

interface CommonFlags {
  dataDir?: string;
  stateDir?: string;
  seed?: number;
  dryRun?: boolean;
  json?: boolean;
}

/** Parses a duration: `500` or `500ms`, `3s`, `2m`. */
export function parseDurationMs(value: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(value.trim());
  if (!match) throw new InvalidArgumentError('a duration is a number with ms, s or m (ms without a unit)');
  const scale = match[2] === 's' ? 1_000 : match[2] === 'm' ? 60_000 : 1;
  return Math.round(Number(match[1]) * scale);
}

/** Parses a delay with a fraction allowed: `500us`, `0.5ms`, `20ms` or `20` (ms), `1s`; returns ms. */
export function parseDelayMs(value: string): number {
  const match = /^(\d+(?:\.\d+)?)(us|ms|s)?$/.exec(value.trim());
  if (!match) throw new InvalidArgumentError('a delay is a number with us, ms or s (ms without a unit)');
  const scale = match[2] === 's' ? 1_000 : match[2] === 'us' ? 0.001 : 1;
  return Number(match[1]) * scale;
}

/** Parses a size: `1048576`, `64k`, `64MiB`, `1g` (binary units); returns bytes. */
export function parseBytes(value: string): number {
  const match = /^(\d+)\s*(k|m|g|kib|mib|gib)?b?$/i.exec(value.trim());
  if (!match) throw new InvalidArgumentError('a size is an integer number of bytes, or with k, m or g (KiB, MiB, GiB)');
  const unit = (match[2] ?? '').toLowerCase().charAt(0);
  const scale = unit === 'k' ? 1024 : unit === 'm' ? 1024 ** 2 : unit === 'g' ? 1024 ** 3 : 1;
  return Number(match[1]) * scale;
}

function parseSeed(value: string): number {
  const seed = Number(value);
  if (!Number.isSafeInteger(seed)) throw new InvalidArgumentError('a seed is an integer');
  return seed;
}

function withCommon(command: Command): Command {
  return command
    .option('--data-dir <dir>', 'keel up data dir whose cluster.json names the members', './.keel')
    .option('--state-dir <dir>', 'where fault records, the watchdog pid and its log live (default /run/keel-chaos for root)')
    .option('--seed <n>', 'seed for choices (which follower)', parseSeed)
    .option('--dry-run', 'print the plan; inject nothing')
    .option('--json', 'print the result as JSON');
}

function chaosOptions(flags: CommonFlags): ChaosOptions {
  return {
    ...(flags.dataDir !== undefined ? { dataDir: flags.dataDir } : {}),
    ...(flags.stateDir !== undefined ? { stateDir: flags.stateDir } : {}),
    ...(flags.seed !== undefined ? { seed: flags.seed } : {}),
    ...(flags.dryRun ? { dryRun: true } : {}),
  };
}

function printFault(fault: Fault, flags: CommonFlags, seed: number): void {
  if (flags.json) {
    console.log(JSON.stringify({ id: fault.id, kind: fault.kind, description: fault.description, injected: fault.injected, expiresAt: fault.expiresAt, plan: fault.plan, outcomes: fault.outcomes, seed }));
    return;
  }
  console.log(`keel chaos: ${fault.injected ? '' : 'dry run, would '}${fault.description} (fault ${fault.id}, seed ${seed})`);
  for (const line of fault.injected ? fault.outcomes : fault.plan) console.log(`  ${line}`);
  if (fault.injected && fault.expiresAt !== undefined) console.log(`  the watchdog undoes it at ${new Date(fault.expiresAt).toISOString()}; keel chaos heal undoes it now`);
}

/** Runs one fault; maps typed errors to exit code 1 with their code. */
export async function runFault(spec: FaultSpec, flags: CommonFlags): Promise<number> {
  try {
    const chaos = createChaos(chaosOptions(flags));
    const fault = await chaos.inject(spec);
    printFault(fault, flags, chaos.seed);
    const acted = fault.plan.some((line) => line.startsWith('inject:') || line.startsWith('then:'));
    return acted || !fault.injected ? 0 : EXIT_TARGETS_GONE;
  } catch (error) {
    return reportError(error);
  }
}

function reportError(error: unknown): number {
  if (ChaosError.is(error)) console.error(`keel chaos: ${error.message} (${error.code})`);
  else console.error(`keel chaos: ${error instanceof Error ? error.message : String(error)}`);
  return 1;
}

function processFault(kind: 'kill' | 'term' | 'restart', description: string): Command {
  const command = withCommon(new Command(kind).description(description).argument('<target>', 'leader, follower, followers, all, zone:<z>, gateway, a member id or pid:<n>'));
  if (kind === 'restart') command.option('--graceful', 'a planned restart: keel up members get SIGTERM (they drain) and keel up starts them again, instead of SIGKILL');
  return command.action(async (target: string, flags: CommonFlags & { graceful?: boolean }) => {
    process.exitCode = await runFault({ kind, target, ...(flags.graceful ? { graceful: true } : {}) }, flags);
  });
}

export function chaosCommand(): Command {
  const command = new Command('chaos').description('inject faults (process, network, disk, resources) with leases a watchdog enforces; heal undoes them all');
  command.addCommand(processFault('kill', 'SIGKILL the target (keel up restarts its members)'));
  command.addCommand(processFault('term', 'SIGTERM the target (a graceful stop; keel up does not restart a member that exits cleanly)'));
  command.addCommand(processFault('restart', 'restart the target: keel up members by SIGKILL and their supervisor, other processes by SIGTERM and relaunch from /proc'));
  command.addCommand(
    withCommon(new Command('pause').description('SIGSTOP the target for the lease, then SIGCONT').argument('<target>'))
      .requiredOption('--duration <d>', 'the lease: 3s, 500ms, 2m', parseDurationMs)
      .action(async (target: string, flags: CommonFlags & { duration: number }) => {
        process.exitCode = await runFault({ kind: 'pause', target, durationMs: flags.duration }, flags);
      }),
  );
  command.addCommand(
    withCommon(new Command('partition').description('cut members apart with nft rules in their namespaces (keel up --netns, root): isolate, isolate-leader, leader-minority, halves, majorities-ring, bridge, one-way').argument('<shape>'))
      .option('--target <selector>', 'isolate and one-way: who is cut off', 'follower')
      .option('--loss <percent>', 'a lossy partition: drop this share of packets on each cut link (nft, no netem needed)', Number)
      .requiredOption('--duration <d>', 'the lease: 30s, 2m', parseDurationMs)
      .action(async (shape: string, flags: CommonFlags & { target: string; duration: number; loss?: number }) => {
        process.exitCode = await runFault({ kind: 'partition', shape: shape as 'isolate', target: flags.target, durationMs: flags.duration, ...(flags.loss !== undefined ? { lossPercent: flags.loss } : {}) }, flags);
      }),
  );
  command.addCommand(
    withCommon(new Command('netem').description('delay, jitter, loss, duplication, reordering, corruption or a bandwidth cap on the target\'s outgoing traffic, or with --to on its link to given members (tc in its namespace; keel up --netns, root)').argument('<target>'))
      .requiredOption('--duration <d>', 'the lease', parseDurationMs)
      .option('--delay <d>', 'added delay', parseDurationMs)
      .option('--jitter <d>', 'delay variation', parseDurationMs)
      .option('--loss <percent>', 'packets dropped', Number)
      .option('--duplicate <percent>', 'packets sent twice', Number)
      .option('--reorder <percent>', 'packets sent ahead of others (needs --delay)', Number)
      .option('--corrupt <percent>', 'packets with a flipped bit', Number)
      .option('--rate <kbit>', 'bandwidth cap in kbit/s', Number)
      .option('--to <selector>', 'only the link to these members (one direction; add the reverse for both)')
      .action(async (target: string, flags: CommonFlags & { duration: number; to?: string; delay?: number; jitter?: number; loss?: number; duplicate?: number; reorder?: number; corrupt?: number; rate?: number }) => {
        process.exitCode = await runFault(
          {
            kind: 'netem',
            target,
            durationMs: flags.duration,
            ...(flags.to !== undefined ? { to: flags.to } : {}),
            ...(flags.delay !== undefined ? { delayMs: flags.delay } : {}),
            ...(flags.jitter !== undefined ? { jitterMs: flags.jitter } : {}),
            ...(flags.loss !== undefined ? { lossPercent: flags.loss } : {}),
            ...(flags.duplicate !== undefined ? { duplicatePercent: flags.duplicate } : {}),
            ...(flags.reorder !== undefined ? { reorderPercent: flags.reorder } : {}),
            ...(flags.corrupt !== undefined ? { corruptPercent: flags.corrupt } : {}),
            ...(flags.rate !== undefined ? { rateKbit: flags.rate } : {}),
          },
          flags,
        );
      }),
  );
  command.addCommand(
    withCommon(new Command('failpoint').description('switch on a storage failpoint in running members (started with --enable-failpoint-api) for the lease').argument('<target>').argument('<name>', 'wal-before-fsync, apply-after, snapshot-after-rename, ...').argument('<action>', 'crash, pause, throw or sleep(ms), with an optional @n'))
      .requiredOption('--duration <d>', 'the lease', parseDurationMs)
      .action(async (target: string, name: string, action: string, flags: CommonFlags & { duration: number }) => {
        process.exitCode = await runFault({ kind: 'failpoint', target, name, action, durationMs: flags.duration }, flags);
      }),
  );
  command.addCommand(
    withCommon(new Command('clock').description('skew running members\' own clock (raft ticks, lease deadlines; started with --enable-failpoint-api) for the lease: a drift rate, a jump forward, or both').argument('<target>'))
      .requiredOption('--duration <d>', 'the lease (the drift stops then; a jump stays, as a monotonic clock never steps back)', parseDurationMs)
      .option('--rate <factor>', 'member time per real time: 5 = five times fast, 0.5 = half speed', Number)
      .option('--bump <d>', 'jump the clock forward by this much', parseDurationMs)
      .action(async (target: string, flags: CommonFlags & { duration: number; rate?: number; bump?: number }) => {
        process.exitCode = await runFault(
          { kind: 'clock', target, durationMs: flags.duration, ...(flags.rate !== undefined ? { rate: flags.rate } : {}), ...(flags.bump !== undefined ? { bumpMs: flags.bump } : {}) },
          flags,
        );
      }),
  );
  command.addCommand(
    withCommon(new Command('disk').description('slow or failing disk under running members for the lease, through their faultfs mounts (keel up --faultfs, root): fsync and write delays, EIO, ENOSPC').argument('<target>'))
      .requiredOption('--duration <d>', 'the lease (then every fault of the mount is cleared)', parseDurationMs)
      .option('--fsync-delay <d>', 'each fsync syncs, then sleeps this long: 20ms, 500us', parseDelayMs)
      .option('--write-delay <d>', 'each write sleeps this long first', parseDelayMs)
      .option('--eio-fsync <rule>', 'fsyncs fail with EIO: next:<n> (the next n) or p:<probability> (each); a keel member exits on one and keel up restarts it')
      .option('--eio-write <rule>', 'writes fail with EIO: next:<n> or p:<probability>')
      .option('--enospc-after <bytes>', 'writes that would grow the data dir past this size fail with ENOSPC: 64MiB, 1048576', parseBytes)
      .action(async (target: string, flags: CommonFlags & { duration: number; fsyncDelay?: number; writeDelay?: number; eioFsync?: string; eioWrite?: string; enospcAfter?: number }) => {
        process.exitCode = await runFault(
          {
            kind: 'disk',
            target,
            durationMs: flags.duration,
            ...(flags.fsyncDelay !== undefined ? { fsyncDelayMs: flags.fsyncDelay } : {}),
            ...(flags.writeDelay !== undefined ? { writeDelayMs: flags.writeDelay } : {}),
            ...(flags.eioFsync !== undefined ? { fsyncEio: flags.eioFsync } : {}),
            ...(flags.eioWrite !== undefined ? { writeEio: flags.eioWrite } : {}),
            ...(flags.enospcAfter !== undefined ? { enospcAfterBytes: flags.enospcAfter } : {}),
          },
          flags,
        );
      }),
  );
  command.addCommand(
    withCommon(new Command('stress').description('CPU and memory pressure with stress-ng for the lease (its own --timeout too), on the host or in a target\'s cgroup'))
      .option('--target <selector>', 'run in this member\'s (or pid\'s) cgroup')
      .option('--cpu <n>', 'CPU workers', Number)
      .option('--cpu-load <percent>', 'load per CPU worker', Number)
      .option('--vm <n>', 'memory workers', Number)
      .option('--vm-bytes <bytes>', 'bytes each memory worker touches (default 64 MiB)', Number)
      .requiredOption('--duration <d>', 'the lease', parseDurationMs)
      .action(async (flags: CommonFlags & { target?: string; cpu?: number; cpuLoad?: number; vm?: number; vmBytes?: number; duration: number }) => {
        process.exitCode = await runFault(
          {
            kind: 'stress',
            durationMs: flags.duration,
            ...(flags.target !== undefined ? { target: flags.target } : {}),
            ...(flags.cpu !== undefined ? { cpuWorkers: flags.cpu } : {}),
            ...(flags.cpuLoad !== undefined ? { cpuLoadPercent: flags.cpuLoad } : {}),
            ...(flags.vm !== undefined ? { vmWorkers: flags.vm } : {}),
            ...(flags.vmBytes !== undefined ? { vmBytes: flags.vmBytes } : {}),
          },
          flags,
        );
      }),
  );
  command.addCommand(proxyCommand());
  command.addCommand(chaosRunCommand());
  command.addCommand(
    withCommon(new Command('heal').description('the kill switch: undo every recorded fault and remove every tagged rule and qdisc')).action(async (flags: CommonFlags) => {
      process.exitCode = await runHeal(flags);
    }),
  );
  command.addCommand(
    withCommon(new Command('status').description('list the active faults of the state dir')).action((flags: CommonFlags) => {
      const chaos = createChaos(chaosOptions(flags));
      const active = chaos.active();
      if (flags.json) console.log(JSON.stringify(active));
      else if (active.length === 0) console.log('keel chaos: no active fault');
      else for (const record of active) console.log(`${record.id} ${record.description}, until ${new Date(record.expiresAt).toISOString()}`);
    }),
  );
  return command;
}

async function runHeal(flags: CommonFlags): Promise<number> {
  try {
    const chaos = createChaos(chaosOptions(flags));
    if (flags.dryRun) {
      for (const record of [...chaos.active(), ...chaos.store.failed()]) console.log(`would undo ${record.id} (${record.description}): ${record.undo.length} steps`);
      return 0;
    }
    const report = await chaos.heal();
    if (flags.json) console.log(JSON.stringify(report));
    else {
      for (const fault of report.faults) for (const line of [...fault.steps, ...fault.errors.map((error) => `FAILED ${error}`)]) console.log(`${fault.id}: ${line}`);
      for (const line of report.sweeps) console.log(`swept: ${line}`);
      console.log(`keel chaos: healed ${report.faults.length} recorded faults, ${report.sweeps.length} untracked leftovers`);
    }
    return report.faults.every((fault) => fault.errors.length === 0) ? 0 : 1;
  } catch (error) {
    return reportError(error);
  }
}

/** `keel chaos proxy`: the Toxiproxy-compatible fault proxy, until SIGINT or SIGTERM. */
export function proxyCommand(): Command {
  return new Command('proxy')
    .description('serve Toxiproxy\'s HTTP API: TCP proxies with latency, bandwidth, slow_close, timeout, reset_peer, slicer, limit_data toxics (no root needed)')
    .option('--listen <host:port>', 'the API\'s address', '127.0.0.1:8474')
    .action(async (flags: { listen: string }) => {
      const { ToxiproxyServer } = await import('../chaos/toxiproxy/index.js');
      const index = flags.listen.lastIndexOf(':');
      const port = Number(flags.listen.slice(index + 1));
      if (index < 0 || !Number.isInteger(port) || port < 0 || port > 65_535) {
        console.error(`keel chaos proxy: --listen must be host:port, got ${flags.listen}`);
        process.exitCode = 1;
        return;
      }
      const server = new ToxiproxyServer();
      try {
        const address = await server.listen(port, flags.listen.slice(0, index) || '127.0.0.1');
        console.log(`keel chaos proxy: Toxiproxy API on http://${address.address}:${address.port}`);
      } catch (error) {
        console.error(`keel chaos proxy: cannot listen on ${flags.listen}: ${(error as Error).message}`);
        process.exitCode = 1;
        return;
      }
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      await server.close();
    });
}
