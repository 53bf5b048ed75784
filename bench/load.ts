/**
 * keel load against its anchors, in one run (npm run bench:load):
 *
 *  (a) efficiency: max req/s and the load generator's CPU µs per request
 *      (utime+stime from /proc/<pid>/stat of its processes, children
 *      included) against nginx serving a static file, vs wrk and autocannon;
 *  (b) many VUs: N VUs (50,000 by default), each with its own keep-alive
 *      connection, at 1 req/s each: ramp time, RSS per VU, achieved rate,
 *      errors, against several node target processes (each under 20k fds);
 *  (c) coordinated omission: a target that stalls 1 s every 10 s, keel load
 *      at a constant arrival rate vs wrk and autocannon (closed loops).
 *
 * Env: BENCH_LOAD_PARTS=a,b,c  BENCH_LOAD_SECONDS=10  BENCH_LOAD_VUS=50000
 *      BENCH_LOAD_VU_SECONDS=60  BENCH_LOAD_CO_SECONDS=30  BENCH_LOAD_CO_RATE=1000
 * Targets and tools only on 127.0.0.1; every process stopped by its PID.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { markdownTable } from './lib/table.js';
import { freeLoopbackPorts } from './lib/net.js';
import { ensureDebianBinary } from './lib/debian.js';
import { start, stop, tempDir, type Started } from './lib/gateway/processes.js';

const parts = (process.env.BENCH_LOAD_PARTS ?? 'a,b,c').split(',');
const seconds = Number(process.env.BENCH_LOAD_SECONDS ?? '10');
const manyVus = Number(process.env.BENCH_LOAD_VUS ?? '50000');
const vuSeconds = Number(process.env.BENCH_LOAD_VU_SECONDS ?? '60');
const coSeconds = Number(process.env.BENCH_LOAD_CO_SECONDS ?? '30');
const coRate = Number(process.env.BENCH_LOAD_CO_RATE ?? '1000');
const CONNECTIONS = 50;
const root = new URL('..', import.meta.url).pathname;
const keelMain = join(root, 'dist/src/cli/main.js');
const autocannonBin = join(root, 'node_modules/autocannon/autocannon.js');
const dir = tempDir('keel-load-bench-');
const log = (line: string): void => console.error(line);

/** Clock ticks per second for /proc/<pid>/stat times (getconf CLK_TCK; 100 on Linux). */
const TICKS_PER_SECOND = 100;

/** utime+stime+cutime+cstime of a process, in µs (cutime/cstime hold its reaped children's). */
function cpuMicros(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]);
    return (ticks / TICKS_PER_SECOND) * 1e6;
  } catch {
    return undefined;
  }
}

function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function rssKb(pid: number): number {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

interface Measured {
  readonly stdout: string;
  readonly cpuMicros: number;
  readonly wallSeconds: number;
  readonly peakRssKb: number;
}

/**
 * Runs a load tool and samples its process tree every 100 ms: CPU is the
 * last sample of the top process (its own plus its reaped children's) plus
 * the live children's; the last 100 ms before exit are lost (under 1% of a
 * 10 s run).
 */
function measure(command: string, args: readonly string[], onSample?: (pids: number[]) => void): Promise<Measured> {
  return new Promise((resolve, reject) => {
    const begun = performance.now();
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.on('data', (chunk) => (stdout += String(chunk)));
    let lastCpu = 0;
    let peakRssKb = 0;
    const sample = (): void => {
      const pid = child.pid!;
      const tree = [pid, ...childPids(pid), ...childPids(pid).flatMap(childPids)];
      const top = cpuMicros(pid);
      if (top === undefined) return;
      const live = tree.slice(1).reduce((sum, each) => sum + (cpuMicros(each) ?? 0), 0);
      lastCpu = Math.max(lastCpu, top + live);
      peakRssKb = Math.max(peakRssKb, tree.reduce((sum, each) => sum + rssKb(each), 0));
      onSample?.(tree);
    };
    const timer = setInterval(sample, 100);
    child.once('error', reject);
    child.once('exit', () => {
      clearInterval(timer);
      resolve({ stdout, cpuMicros: lastCpu, wallSeconds: (performance.now() - begun) / 1000, peakRssKb });
    });
  });
}

function writeScenario(name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

async function keelLoad(scenario: string, extra: readonly string[] = [], onSample?: (pids: number[]) => void): Promise<{ measured: Measured; summary: any }> {
  const summaryFile = join(dir, `summary-${Date.now()}.json`);
  const measured = await measure(process.execPath, [keelMain, 'load', scenario, '--quiet', '--summary-export', summaryFile, ...extra], onSample);
  return { measured, summary: JSON.parse(readFileSync(summaryFile, 'utf8')) };
}

const fmt = (value: number, digits = 1): string => value.toFixed(digits);

async function startNginxStatic(port: number): Promise<Started> {
  const root = join(dir, 'www');
  await import('node:fs').then((fs) => (fs.mkdirSync(root, { recursive: true }), fs.writeFileSync(join(root, 'index.html'), 'ok\n')));
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
  } finally {
    await stop(nginx);
  }
  console.log(`\n(a) efficiency: ${CONNECTIONS} connections, ${seconds} s against nginx (static file, 1 worker)\n`);
  console.log(markdownTable(['load generator', 'req/s', 'CPU µs/req', 'req/s vs wrk', 'CPU/req vs wrk'], rows));
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

/** (b) */
async function manyUsers(): Promise<void> {
  const targetCount = Math.max(1, Math.ceil(manyVus / 12_500));
  const targets = await startNodeTargets(targetCount);
  const workers = Math.max(2, Math.ceil(manyVus / 12_500));
  const rampSeconds = Math.max(5, Math.round(manyVus / 2500));
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
    console.log(`\n(b) ${manyVus} VUs, each its own keep-alive connection, 1 req/s each, ${vuSeconds} s plateau, ${workers} workers, ${targetCount} node target processes\n`);
    console.log(
      markdownTable(
        ['VUs asked', 'VUs reached', 'ramp (s, asked)', 'ramp (s, reached)', 'RSS per VU reached (KB)', 'req/s at plateau', 'req/s asked', 'errors', 'p99 (ms)'],
        [[String(manyVus), String(vusReached), String(rampSeconds), reached === undefined ? 'not reached' : fmt(reached.t, 0), fmt((plateauRssKb - baselineRssKb) / vusReached), fmt(rate, 0), String(manyVus), String(errors), fmt(run.summary.trends.http_req_duration?.p99 ?? 0)]],
      ),
    );
    if (errors > 0) console.log(`errors: ${JSON.stringify(run.summary.errors)}`);
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
