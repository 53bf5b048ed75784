/**
 * keel load against its anchors, in one run (npm run bench:load):
 *
 *  (a) efficiency: max req/s and the load generator's CPU µs per request
 *      (utime+stime from /proc/<pid>/stat of its processes, children
 *      included) against nginx serving a static file, vs wrk and autocannon;
 *  (b) many VUs: N VUs (50,000 by default), each with its own keep-alive
 *      connection, at 1 req/s each: ramp time, RSS per VU, achieved rate,
 *      errors, against several node target processes (each under 20k fds);
 *      then how many JMeter threads at 1 req/s one JVM holds;
 *  (c) coordinated omission: a target that stalls 1 s every 10 s, keel load
 *      at a constant arrival rate vs wrk and autocannon (closed loops).
 *
 * JMeter (Debian's `jmeter`, bench/lib/jmeter.ts) is an anchor in (a) and,
 * in (b), a probe of how many threads one JVM holds at 1 req/s each; where
 * it is not installed its rows say so and the bench goes on.
 *
 * Env: BENCH_LOAD_PARTS=a,b,c  BENCH_LOAD_SECONDS=10  BENCH_LOAD_VUS=50000
 *      BENCH_LOAD_VU_SECONDS=60  BENCH_LOAD_CO_SECONDS=30  BENCH_LOAD_CO_RATE=1000
 *      BENCH_LOAD_JMETER_THREADS=1000,5000,10000,20000,50000 (probe steps, up to
 *      BENCH_LOAD_VUS)  BENCH_LOAD_JMETER_HOLD_SECONDS=10
 * Targets and tools only on 127.0.0.1; every process stopped by its PID.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { markdownTable } from './lib/table.js';
import { freeLoopbackPorts } from './lib/net.js';
import { ensureDebianBinary } from './lib/debian.js';
import { start, stop, tempDir, type Started } from './lib/gateway/processes.js';
import { firstFailure, jmeterPlan, prepareJmeter, probeThreads, runJmeter, type Jmeter, type ThreadProbeAttempt } from './lib/jmeter.js';
import { measure, rssKb, type Measured } from './lib/process-tree.js';
import { openFilesLimit } from '../src/load/links.js';

const parts = (process.env.BENCH_LOAD_PARTS ?? 'a,b,c').split(',');
const seconds = Number(process.env.BENCH_LOAD_SECONDS ?? '10');
const manyVus = Number(process.env.BENCH_LOAD_VUS ?? '50000');
const vuSeconds = Number(process.env.BENCH_LOAD_VU_SECONDS ?? '60');
const coSeconds = Number(process.env.BENCH_LOAD_CO_SECONDS ?? '30');
const coRate = Number(process.env.BENCH_LOAD_CO_RATE ?? '1000');
const jmeterHoldSeconds = Number(process.env.BENCH_LOAD_JMETER_HOLD_SECONDS ?? '10');
const CONNECTIONS = 50;
const root = new URL('..', import.meta.url).pathname;
const keelMain = join(root, 'dist/src/cli/main.js');
const autocannonBin = join(root, 'node_modules/autocannon/autocannon.js');
const dir = tempDir('keel-load-bench-');
const log = (line: string): void => console.error(line);

function writeScenario(name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

async function keelLoad(scenario: string, extra: readonly string[] = [], onSample?: (pids: number[]) => void): Promise<{ measured: Measured; summary: any }> {
  const summaryFile = join(dir, `summary-${Date.now()}.json`);
  const measured = await measure(process.execPath, [keelMain, 'load', scenario, '--quiet', '--summary-export', summaryFile, ...extra], onSample === undefined ? {} : { onSample });
  return { measured, summary: JSON.parse(readFileSync(summaryFile, 'utf8')) };
}

const fmt = (value: number, digits = 1): string => value.toFixed(digits);

async function startNginxStatic(port: number): Promise<Started> {
  const root = join(dir, 'www');
  mkdirSync(root, { recursive: true });
  writeFileSync(join(root, 'index.html'), 'ok\n');
  // Run as root, nginx's worker is `nobody`: mkdtemp's 0700 would make every response a 403 (and an error-log line).
  chmodSync(dir, 0o711);
  chmodSync(root, 0o755);
  writeFileSync(join(dir, 'nginx.conf'), `
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy; fastcgi_temp_path ${dir}/fcgi; uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
  keepalive_requests 1000000;
  server { listen 127.0.0.1:${port}; root ${root}; }
}`);
  return start('nginx', '/usr/sbin/nginx', ['-p', dir, '-c', join(dir, 'nginx.conf'), '-g', 'daemon off;'], port);
}

/** (a) */
async function efficiency(): Promise<void> {
  if (!ensureDebianBinary('/usr/sbin/nginx', 'nginx-light', log) || !ensureDebianBinary('/usr/bin/wrk', 'wrk', log)) throw new Error('install nginx-light and wrk');
  const [port] = (await freeLoopbackPorts(1)) as [number];
  const nginx = await startNginxStatic(port);
  const url = `http://127.0.0.1:${port}/`;
  const rows: string[][] = [];
  try {
    const wrk = await measure('/usr/bin/wrk', ['-t1', `-c${CONNECTIONS}`, `-d${seconds}s`, url]);
    const wrkRate = Number(/Requests\/sec:\s+([\d.]+)/.exec(wrk.stdout)?.[1] ?? 0);
    const wrkRequests = wrkRate * seconds;
    const auto = await measure(process.execPath, [autocannonBin, '-c', String(CONNECTIONS), '-d', String(seconds), '-j', url]);
    const autoJson = JSON.parse(auto.stdout.slice(auto.stdout.indexOf('{'))) as { requests: { average: number; total: number } };
    const scenario = writeScenario('efficiency.mjs', `export const options = { vus: ${CONNECTIONS}, duration: '${seconds}s' };\nexport default async function (vu) { await vu.http.get('${url}'); }\n`);
    const keel = await keelLoad(scenario, ['--workers', '1']);
    const keelRequests = keel.summary.counters.http_reqs?.count ?? 0;
    const keelRate = keel.summary.counters.http_reqs?.perSecond ?? 0;
    const perRequest = (cpu: number, requests: number): number => (requests > 0 ? cpu / requests : 0);
    const wrkCpu = perRequest(wrk.cpuMicros, wrkRequests);
    const autoCpu = perRequest(auto.cpuMicros, autoJson.requests.total);
    const keelCpu = perRequest(keel.measured.cpuMicros, keelRequests);
    rows.push(['wrk (1 thread)', fmt(wrkRate, 0), fmt(wrkCpu), '1.00', fmt(wrkCpu / wrkCpu, 2)]);
    rows.push(['autocannon', fmt(autoJson.requests.average, 0), fmt(autoCpu), fmt(autoJson.requests.average / wrkRate, 2), fmt(autoCpu / wrkCpu, 2)]);
    rows.push(['keel load (1 worker)', fmt(keelRate, 0), fmt(keelCpu), fmt(keelRate / wrkRate, 2), fmt(keelCpu / wrkCpu, 2)]);
    rows.push(await jmeterEfficiencyRow(url, wrkRate, wrkCpu));
  } finally {
    await stop(nginx);
  }
  console.log(`\n(a) efficiency: ${CONNECTIONS} connections, ${seconds} s against nginx (static file, 1 worker)\n`);
  console.log(markdownTable(['load generator', 'req/s', 'CPU µs/req', 'req/s vs wrk', 'CPU/req vs wrk'], rows));
}

/**
 * JMeter's heap in part a: upstream's bin/jmeter default (HEAP="-Xms512m
 * -Xmx512m"); Debian's wrapper passes none, which would give the JVM a
 * quarter of the machine's memory.
 */
const JMETER_EFFICIENCY_JVM_ARGS = ['-Xms512m', '-Xmx512m'];
/** What JMeter's row says in place of figures, in part a's 5 columns. */
const jmeterUnavailableRow = (label: string, why: string, columns: number): string[] => [label, why, ...Array<string>(columns - 2).fill('—')];
/** Once per run: compiling the launcher takes a few seconds of javac. */
let jmeterPrepared: Jmeter | string | undefined;
const jmeter = (): Jmeter | string => (jmeterPrepared ??= prepareJmeter(dir));

/**
 * JMeter's row in part a: CONNECTIONS threads looping GET for `seconds`, no
 * timer, keep-alive. JVM startup (some seconds of CPU: class loading, JIT,
 * parsing the plan) is left out: req/s is JMeter's summariser rate, which
 * runs from the first sample to the last, and CPU is counted from the moment
 * JMeter prints "Starting the test" (read then from /proc) to its exit. It
 * writes the CSV results file (-l), as a JMeter run does; that is part of its
 * cost.
 */
async function jmeterEfficiencyRow(url: string, wrkRate: number, wrkCpu: number): Promise<string[]> {
  const label = `JMeter 2.13 (${CONNECTIONS} threads)`;
  const prepared = jmeter();
  if (typeof prepared === 'string') return jmeterUnavailableRow(label, prepared, 5);
  try {
    const plan = jmeterPlan([{ url, threads: CONNECTIONS }], { durationSeconds: seconds, rampSeconds: 0, pauseMs: 0 });
    const run = await runJmeter(prepared, dir, 'efficiency', plan, JMETER_EFFICIENCY_JVM_ARGS, (seconds + 60) * 1000);
    const { totals, measured } = run;
    if (totals === undefined || measured.atMark === undefined || totals.requests === 0) return jmeterUnavailableRow(label, `failed: ${firstFailure(run) ?? `exit ${measured.exitCode}`}`, 5);
    const cpu = (measured.cpuMicros - measured.atMark.cpuMicros) / totals.requests;
    if (totals.errors > 0) log(`JMeter: ${totals.errors} of ${totals.requests} requests failed: ${firstFailure(run) ?? ''}`);
    return [label, fmt(totals.perSecond, 0), fmt(cpu), fmt(totals.perSecond / wrkRate, 2), fmt(cpu / wrkCpu, 2)];
  } catch (error) {
    return jmeterUnavailableRow(label, `failed: ${(error as Error).message}`, 5);
  }
}

/** Node targets for many connections: each process holds a share, under the open-file limit (20,000 here; raising it needs CAP_SYS_RESOURCE, which this container lacks). */
async function startNodeTargets(count: number, stallEveryMs = 0, stallMs = 0): Promise<Started[]> {
  const ports = await freeLoopbackPorts(count);
  const source = (port: number): string => `
const http = require('node:http');
const server = http.createServer({ keepAliveTimeout: 120000 }, (req, res) => { req.resume(); res.end('ok'); });
server.maxConnections = 60000;
server.listen({ port: ${port}, host: '127.0.0.1', backlog: 4096 });
${stallEveryMs > 0 ? `setInterval(() => { const until = Date.now() + ${stallMs}; while (Date.now() < until); }, ${stallEveryMs});` : ''}`;
  return Promise.all(ports.map((port) => start(`target:${port}`, process.execPath, ['-e', source(port)], port)));
}

/** keel's ramp to `vus` in part b; JMeter's thread groups ramp the same. */
const rampSecondsFor = (vus: number): number => Math.max(5, Math.round(vus / 2500));

/**
 * JMeter's JVM in part b's probe: a small stack per thread (each JMeter
 * thread is a platform thread; the default 1 MB stack only reserves address
 * space, but the small one keeps the reservation bounded) and a bounded heap.
 */
const JMETER_PROBE_JVM_ARGS = ['-Xss256k', '-Xms256m', '-Xmx2g'];

/**
 * The thread counts part b's JMeter probe tries, up to the VUs asked: the
 * usual steps, plus one just under this process's open-file limit, since one
 * JVM holds every thread's connection and the limit (20,000 here) may stop
 * it before threads or memory do.
 */
function jmeterProbeSteps(): number[] {
  const listed = (process.env.BENCH_LOAD_JMETER_THREADS ?? '1000,5000,10000,20000,50000').split(',').map(Number);
  // The soft limit keel/load's workers run under too (Infinity when unlimited or unreadable).
  const underOpenFiles = Math.floor(((openFilesLimit() ?? Infinity) - 1000) / 1000) * 1000;
  const steps = new Set([...listed, underOpenFiles, manyVus].filter((threads) => Number.isFinite(threads) && threads > 0 && threads <= manyVus));
  return [...steps].sort((a, b) => a - b);
}

/** Part b's JMeter row: how many threads, each one GET a second, one JVM held here, and a line saying what stopped the next step. */
async function jmeterThreadsRow(urls: readonly string[]): Promise<{ row: string[]; note: string }> {
  const label = 'JMeter 2.13 (threads, 1 JVM)';
  const prepared = jmeter();
  if (typeof prepared === 'string') return { row: jmeterUnavailableRow(label, prepared, 10), note: `JMeter: ${prepared}` };
  let attempts: ThreadProbeAttempt[];
  try {
    attempts = await probeThreads(prepared, dir, { steps: jmeterProbeSteps(), urls, rampSecondsFor, holdSeconds: jmeterHoldSeconds, jvmArgs: JMETER_PROBE_JVM_ARGS, log });
  } catch (error) {
    return { row: jmeterUnavailableRow(label, `failed: ${(error as Error).message}`, 10), note: `JMeter probe failed: ${(error as Error).message}` };
  }
  const held = attempts.filter((attempt) => attempt.failure === undefined).at(-1);
  const failed = attempts.find((attempt) => attempt.failure !== undefined);
  const tried = attempts.at(-1)?.threads ?? 0;
  const row = held === undefined
    ? [label, String(tried), '0', '—', '—', '—', '—', '—', '—', '—']
    : [label, String(tried), String(held.threads), String(rampSecondsFor(held.threads)), held.reachedSeconds === undefined ? '—' : fmt(held.reachedSeconds, 0), fmt(held.rssKbPerThread), fmt(held.perSecondMax, 0), String(held.threads), '0', fmt(held.p99Ms)];
  const heldText = held === undefined ? 'JMeter held no step' : `JMeter held ${held.threads} threads, all active at once (${fmt(held.rssKbPerThread)} KB RSS per thread; req/s is its best summariser interval)`;
  const failedText = failed === undefined ? '; it held every step tried.' : `; at ${failed.threads} threads: ${failed.failure}.`;
  return { row, note: heldText + failedText };
}

/** (b) */
async function manyUsers(): Promise<void> {
  const targetCount = Math.max(1, Math.ceil(manyVus / 12_500));
  const targets = await startNodeTargets(targetCount);
  const workers = Math.max(2, Math.ceil(manyVus / 12_500));
  const rampSeconds = rampSecondsFor(manyVus);
  const urls = targets.map((target) => `http://127.0.0.1:${target.port}/`);
  const scenario = writeScenario(
    'many-vus.mjs',
    `const urls = ${JSON.stringify(urls)};
export const options = { scenarios: { crowd: { executor: 'ramping-vus', startVUs: 0, stages: [{ duration: '${rampSeconds}s', target: ${manyVus} }, { duration: '${vuSeconds}s', target: ${manyVus} }], gracefulStop: '5s' } } };
export default async function (vu) {
  const began = performance.now();
  await vu.http.get(urls[vu.id % urls.length]);
  await vu.sleep(Math.max(0, 1 - (performance.now() - began) / 1000));
}
`,
  );
  let plateauRssKb = 0;
  let baselineRssKb = 0;
  const startedAt = performance.now();
  try {
    const run = await keelLoad(scenario, ['--workers', String(workers), '--out', `ndjson=${join(dir, 'many.ndjson')}`], (pids) => {
      const elapsed = (performance.now() - startedAt) / 1000;
      const rss = pids.reduce((sum, pid) => sum + rssKb(pid), 0);
      if (elapsed < 2.5) baselineRssKb = Math.max(baselineRssKb, rss);
      if (elapsed > rampSeconds + 5 && elapsed < rampSeconds + vuSeconds) plateauRssKb = Math.max(plateauRssKb, rss);
    });
    const points = readFileSync(join(dir, 'many.ndjson'), 'utf8').trim().split('\n').map((line) => JSON.parse(line)).filter((line) => line.type === 'point');
    const reached = points.find((point) => point.vus >= manyVus);
    const plateau = points.filter((point) => reached !== undefined && point.t > reached.t + 2 && point.t < reached.t + vuSeconds - 2);
    const rate = plateau.length === 0 ? 0 : plateau.reduce((sum, point) => sum + point.requests, 0) / plateau.length;
    const errors = run.summary.rates.http_req_failed?.trues ?? 0;
    const vusReached = Math.max(1, ...points.map((point) => point.vus));
    const keelRow = [`keel load (${workers} workers)`, String(manyVus), String(vusReached), String(rampSeconds), reached === undefined ? 'not reached' : fmt(reached.t, 0), fmt((plateauRssKb - baselineRssKb) / vusReached), fmt(rate, 0), String(manyVus), String(errors), fmt(run.summary.trends.http_req_duration?.p99 ?? 0)];
    const jmeterThreads = await jmeterThreadsRow(urls);
    console.log(`\n(b) ${manyVus} VUs, each its own keep-alive connection, 1 req/s each, ${vuSeconds} s plateau, ${workers} workers, ${targetCount} node target processes\n`);
    console.log(
      markdownTable(
        ['load generator', 'VUs asked', 'VUs reached', 'ramp (s, asked)', 'ramp (s, reached)', 'RSS per VU reached (KB)', 'req/s at plateau', 'req/s asked', 'errors', 'p99 (ms)'],
        [keelRow, jmeterThreads.row],
      ),
    );
    if (errors > 0) console.log(`errors: ${JSON.stringify(run.summary.errors)}`);
    console.log(`\n${jmeterThreads.note}`);
  } finally {
    await Promise.all(targets.map(stop));
  }
}

/** (c) */
async function coordinatedOmission(): Promise<void> {
  const [target] = await startNodeTargets(1, 10_000, 1_000);
  const url = `http://127.0.0.1:${target!.port}/`;
  const rows: string[][] = [];
  try {
    const wrk = await measure('/usr/bin/wrk', ['-t1', `-c${CONNECTIONS}`, `-d${coSeconds}s`, '--latency', url]);
    const wrkP99 = /\s99%\s+([\d.]+)(us|ms|s)/.exec(wrk.stdout);
    const wrkMax = /Latency\s+\S+\s+\S+\s+([\d.]+)(us|ms|s)/.exec(wrk.stdout);
    const toMs = (match: RegExpExecArray | null): number => (match === null ? NaN : Number(match[1]) * (match[2] === 'us' ? 0.001 : match[2] === 's' ? 1000 : 1));
    const auto = await measure(process.execPath, [autocannonBin, '-c', String(CONNECTIONS), '-d', String(coSeconds), '-j', url]);
    const autoJson = JSON.parse(auto.stdout.slice(auto.stdout.indexOf('{'))) as { latency: { p99: number; max: number; p50: number }; requests: { average: number } };
    const scenario = writeScenario('co.mjs', `export const options = { scenarios: { open: { executor: 'constant-arrival-rate', rate: ${coRate}, timeUnit: '1s', duration: '${coSeconds}s', preAllocatedVUs: ${coRate * 2}, maxVUs: ${coRate * 2} } } };\nexport default async function (vu) { await vu.http.get('${url}'); }\n`);
    const keel = await keelLoad(scenario, ['--workers', '1']);
    const trend = keel.summary.trends.http_req_duration;
    rows.push(['wrk (closed, 50 conns)', fmt(Number(/Requests\/sec:\s+([\d.]+)/.exec(wrk.stdout)?.[1] ?? 0), 0), fmt(toMs(/\s50%\s+([\d.]+)(us|ms|s)/.exec(wrk.stdout))), fmt(toMs(wrkP99)), fmt(toMs(wrkMax))]);
    rows.push(['autocannon (closed, 50 conns)', fmt(autoJson.requests.average, 0), fmt(autoJson.latency.p50), fmt(autoJson.latency.p99), fmt(autoJson.latency.max)]);
    rows.push([`keel load (open, ${coRate}/s)`, fmt(keel.summary.counters.http_reqs?.perSecond ?? 0, 0), fmt(trend?.med ?? 0), fmt(trend?.p99 ?? 0), fmt(trend?.max ?? 0)]);
    console.log(`\n(c) coordinated omission: target stalls 1 s every 10 s, ${coSeconds} s (dropped iterations in keel's run: ${keel.summary.counters.dropped_iterations?.count ?? 0})\n`);
    console.log(markdownTable(['load generator', 'req/s', 'p50 (ms)', 'p99 (ms)', 'max (ms)'], rows));
    console.log('\nA closed loop sends nothing while its connections wait, so the stall costs it ~50 slow samples; the open model keeps its schedule, and every request due during the stall counts the wait.');
  } finally {
    await stop(target!);
  }
}

if (!existsSync(keelMain)) throw new Error(`${keelMain} is missing: npm run build first (npm run bench:load does)`);
if (parts.includes('a')) await efficiency();
if (parts.includes('c')) await coordinatedOmission();
if (parts.includes('b')) await manyUsers();
