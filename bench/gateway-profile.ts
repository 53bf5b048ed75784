/**
 * Where the gateway fast path's CPU goes: keel gateway from the build
 * (dist/, as bench/gateway-wrk.ts runs it) with every protection on, under
 * `node --cpu-prof`, loaded by wrk (one thread, 64 connections) through two
 * node backends on loopback; on SIGTERM it drains and exits and V8 writes
 * the profile. Only the samples taken while the measured wrk run lasted
 * count (start-up, warm-up and drain are left out). Prints the frames with
 * the most self time as a share of the busy samples (idle left out) and as
 * µs per request: that share of the gateway's own CPU over the run (/proc
 * utime+stime, as gateway-wrk's "CPU µs/req") ÷ the requests wrk counted.
 * V8 samples on a wall clock, so on a loaded box a frame the process was
 * preempted in weighs more than its CPU; the kernel's share of a syscall
 * shows under the frame that made it (`writeBuffer`, `writev`), and
 * (garbage collector) and (program) are V8's own.
 *
 * Usage: npx tsx bench/gateway-profile.ts [--seconds N] [--top N] [--engine fast|node] (after npm run build)
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { selfTimes } from './lib/cpu-profile.js';
import { numberArgument } from './lib/gateway/args.js';
import { treeCpuMicros } from './lib/process-tree.js';
import { keelBenchConfig } from './lib/gateway/keel-config.js';
import { startBackend, startKeelGateway, stop, type Started, tempDir } from './lib/gateway/processes.js';
import { freeLoopbackPorts } from './lib/net.js';

const SECONDS = numberArgument('seconds', 5);
const TOP = numberArgument('top', 15);
const engineIndex = process.argv.indexOf('--engine');
const ENGINE = engineIndex >= 0 ? process.argv[engineIndex + 1] : 'fast';
if (ENGINE !== 'fast' && ENGINE !== 'node') throw new Error('--engine must be fast or node');

function wrkRequests(url: string, seconds: number): number {
  const output = execFileSync('wrk', ['-t1', '-c64', `-d${seconds}s`, url], { timeout: (seconds + 30) * 1000 }).toString();
  return Number(/(\d+) requests in/.exec(output)?.[1] ?? 0);
}

interface Profile {
  readonly nodes: Parameters<typeof selfTimes>[0]['nodes'];
  readonly startTime: number;
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

/** The samples taken between `fromMicros` and `toMicros` (CLOCK_MONOTONIC, V8's profile clock and process.hrtime's). */
function window(profile: Profile, fromMicros: number, toMicros: number): Profile {
  const samples: number[] = [];
  const timeDeltas: number[] = [];
  let atMicros = profile.startTime;
  profile.samples.forEach((id, index) => {
    const delta = profile.timeDeltas[index] ?? 0;
    atMicros += delta;
    if (atMicros < fromMicros || atMicros > toMicros) return;
    samples.push(id);
    timeDeltas.push(delta);
  });
  return { ...profile, samples, timeDeltas };
}

const monotonicMicros = (): number => Number(process.hrtime.bigint() / 1000n);

const processes: Started[] = [];
try {
  const [backendA, backendB, port] = (await freeLoopbackPorts(3)) as [number, number, number];
  processes.push(await startBackend(backendA), await startBackend(backendB));
  const profileDir = tempDir('keel-gw-profile-');
  const gateway = await startKeelGateway(keelBenchConfig(port, [backendA, backendB], ENGINE, true, undefined), port, { nodeFlags: ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] });
  processes.push(gateway);
  const url = `http://127.0.0.1:${port}/`;
  wrkRequests(url, 1); // warm-up: JIT, pools, connections (outside the window summarised)
  const pid = gateway.child.pid as number;
  const cpuBefore = treeCpuMicros(pid) ?? 0;
  const fromMicros = monotonicMicros();
  const requests = wrkRequests(url, SECONDS);
  const toMicros = monotonicMicros();
  const cpuUsPerRequest = ((treeCpuMicros(pid) ?? 0) - cpuBefore) / Math.max(1, requests);
  await stop(gateway);
  const file = readdirSync(profileDir).find((name) => name.endsWith('.cpuprofile'));
  if (file === undefined) throw new Error(`no .cpuprofile in ${profileDir}: the gateway did not exit cleanly`);
  const profile = window(JSON.parse(readFileSync(join(profileDir, file), 'utf8')) as Profile, fromMicros, toMicros);
  const frames = selfTimes(profile, Number.MAX_SAFE_INTEGER).filter((frame) => frame.frame !== '(idle)');
  const busyMs = frames.reduce((sum, frame) => sum + frame.selfMs, 0);
  console.log(`keel ${ENGINE} path, protections on; wrk -t1 -c64 -d${SECONDS}s: ${requests} requests, gateway CPU ${cpuUsPerRequest.toFixed(1)} µs/req (/proc); ${busyMs.toFixed(0)} ms of busy samples in the run; profile ${join(profileDir, file)}\n`);
  console.log('| self µs/req | share of busy | frame |\n|---:|---:|---|');
  for (const frame of frames.slice(0, TOP)) {
    console.log(`| ${((frame.selfMs / busyMs) * cpuUsPerRequest).toFixed(2)} | ${((frame.selfMs / busyMs) * 100).toFixed(1)}% | \`${frame.frame}\` |`);
  }
} finally {
  for (const started of processes.reverse()) await stop(started);
}
