/**
 * `etcdctl check perf` against a 3-member keel and a 3-member etcd 3.4 in
 * one run, one after the other, each on fresh data dirs with fsync on:
 * etcd's own acceptance check of a cluster's write path (issue 14's goal:
 * `--load l` passes against keel). etcdctl writes through gRPC from the
 * load's clients for 60 s at the load's target rate and judges the result
 * itself: throughput above 90% of the target, the slowest request at most
 * 500 ms, the standard deviation at most 100 ms and no failed request
 * (etcdctl's thresholds, not ours). Each write puts a random 256-byte key
 * with a 1 KiB value. This prints etcdctl's verdict lines per system in a
 * table, and the leader changes the members saw from just before the check
 * to just after it (`etcd_server_leader_changes_seen_total`, the most any
 * member counted), which etcdctl does not report.
 *
 * Loads (etcdctl 3.4): s 150 writes/s from 50 clients, m 1,000 from 200,
 * l 8,000 from 500, xl 15,000 from 1,000.
 *
 * Usage: npx tsx bench/check-perf.ts [--load s|m|l|xl] [--only keel|etcd] (after npm run build)
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { stringArgument } from './lib/gateway/args.js';
import { EtcdCluster, findEtcdctlBinary } from './lib/etcd-cluster.js';
import { startKeelCluster } from './lib/keel-cluster.js';
import { scrapeMetric } from './lib/metrics.js';
import { markdownTable } from './lib/table.js';

const LOAD = stringArgument('load') ?? 'l';
const ONLY = stringArgument('only');
/** check perf runs 60 s plus setup and cleanup; past this it is killed (by pid) and its run counts as failed. */
const CHECK_TIMEOUT_MS = 180_000;
if (!['s', 'm', 'l', 'xl'].includes(LOAD)) throw new Error(`--load must be s, m, l or xl, not ${LOAD}`);
if (ONLY !== undefined && ONLY !== 'keel' && ONLY !== 'etcd') throw new Error(`--only must be keel or etcd, not ${ONLY}`);
const etcdctl = findEtcdctlBinary();
if (etcdctl === undefined) throw new Error('etcdctl is not installed (apt-get install -y etcd-client)');

interface Verdict {
  readonly system: string;
  /** etcdctl's verdict lines by measure, and `leader changes` (ours, from the members' metrics). */
  readonly lines: Map<string, string>;
  readonly passed: boolean;
  readonly exitCode: number | null;
}

/**
 * Each member's `etcd_server_leader_changes_seen_total` (keel exports etcd's
 * name too); undefined for a member that did not answer.
 */
async function leaderChangesSeen(endpoints: readonly string[]): Promise<(number | undefined)[]> {
  return Promise.all(endpoints.map((endpoint) => scrapeMetric(endpoint, 'etcd_server_leader_changes_seen_total', 10_000)));
}

async function checkPerf(system: string, endpoints: readonly string[]): Promise<Verdict> {
  const changesBefore = await leaderChangesSeen(endpoints);
  const hosts = endpoints.map((url) => new URL(url).host).join(',');
  const child = spawn(etcdctl!, [`--endpoints=${hosts}`, 'check', 'perf', `--load=${LOAD}`, '--auto-compact', '--auto-defrag'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), CHECK_TIMEOUT_MS);
  const [exitCode] = (await once(child, 'exit')) as [number | null];
  clearTimeout(timer);
  // etcdctl prints a progress bar with carriage returns, then a line per measure ("PASS: Throughput is 150
  // writes/s"; a failed one reads "FAIL: Throughput too low: 133 writes/s", and only the first line of a
  // failed run is prefixed with FAIL: "Slowest request took too long: 0.89s"), then PASS or FAIL alone.
  const lines = new Map<string, string>();
  for (const raw of output.split(/[\r\n]+/)) {
    const line = raw.trim();
    const verdict = /^(?:(?:PASS|FAIL): )?(Throughput|Slowest request|Stddev)\b.*$/.exec(line);
    if (verdict) lines.set(verdict[1]!, line);
    else if (line.startsWith('FAIL: ERROR(')) lines.set('errors', [lines.get('errors'), line.slice('FAIL: '.length)].filter(Boolean).join('; '));
    else if (/^(PASS|FAIL)$/.test(line)) lines.set('result', line);
  }
  process.stderr.write(`${system}: etcdctl check perf --load=${LOAD} exited ${exitCode}\n${output.replace(/\r/g, '\n').split('\n').filter((l) => l.trim() !== '' && !l.includes('%')).join('\n')}\n`);
  // A run that ended before its verdict (etcdctl gives up on an error) shows its last error line instead.
  const error = output.split(/[\r\n]+/).reverse().find((line) => /^Error: /.test(line.trim()));
  if (!lines.has('result')) lines.set('result', `no verdict (exit ${exitCode}${error === undefined ? '' : `, ${error.trim()}`})`);
  // Leader changes during the check, setup and cleanup included (etcdctl's cleanup is one DeleteRange of every key
  // it wrote): the most any member saw, as each member counts those it saw.
  const changesAfter = await leaderChangesSeen(endpoints);
  const seen = changesAfter.map((after, index) => (after === undefined || changesBefore[index] === undefined ? undefined : after - changesBefore[index]!));
  const known = seen.filter((count): count is number => count !== undefined);
  lines.set('leader changes', known.length === 0 ? 'unknown' : `${Math.max(...known)}${known.length < seen.length ? ` (${seen.length - known.length} member(s) did not answer)` : ''}`);
  return { system, lines, passed: exitCode === 0 && lines.get('result') === 'PASS', exitCode };
}

const verdicts: Verdict[] = [];
if (ONLY !== 'etcd') {
  const keel = await startKeelCluster({ fsync: true });
  try {
    verdicts.push(await checkPerf('keel', keel.endpoints));
  } finally {
    await keel.stop();
  }
}
if (ONLY !== 'keel') {
  const etcd = await EtcdCluster.start();
  try {
    verdicts.push(await checkPerf('etcd 3.4', etcd.endpoints));
  } finally {
    await etcd.stop();
  }
}

console.log(`\netcdctl check perf --load=${LOAD}, 3 members each on loopback, fsync on.\n`);
const measures = ['Throughput', 'Slowest request', 'Stddev', 'errors', 'result', 'leader changes'];
console.log(markdownTable(['measure', ...verdicts.map((verdict) => verdict.system)], measures.map((measure) => [measure, ...verdicts.map((verdict) => verdict.lines.get(measure) ?? '-')])));
