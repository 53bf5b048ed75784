/**
 * bench/jepsen: keel's Jepsen-style campaign, keel and etcd 3.4 side by side.
 * Each run starts a fresh 3-member cluster, runs clients on every member
 * (reads, writes, compare-and-sets on a few keys, all recorded) under a
 * seeded nemesis (kill -9 and SIGSTOP of the leader and of a follower,
 * through keel chaos), heals, waits for the cluster to serve again and
 * checks the history for linearizability. etcd runs the same seeds as the
 * control; its killed members are restarted by this script (keel up
 * restarts keel's).
 *
 *   npm run build && npx tsx bench/jepsen.ts [--runs 10] [--run-ms 30000] [--seed 1] [--nodes 3|5] [--no-etcd] [--history-dir DIR]
 *
 * Every history is checked twice: linearizability (a CAS register per key)
 * and etcd's revision rules over the whole history, with one watch stream
 * per member recorded beside the clients.
 *
 * Exit code 99 when any keel run is not linearizable or did not recover.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createChaos } from '../src/chaos/index.js';
import { describeReport, keelUpTarget, PROCESS_NEMESIS_FAULTS, runCampaign, waitUntil, type CampaignReport, type CampaignTarget } from '../src/chaos/campaign/index.js';
import { EtcdCluster, findEtcdBinary } from './lib/etcd-cluster.js';
import { startKeelCluster } from './lib/keel-cluster.js';

function flag(name: string, fallback: string): string {
  const index = process.argv.indexOf(name);
  return index > 0 && process.argv[index + 1] !== undefined ? process.argv[index + 1]! : fallback;
}
const runs = Number(flag('--runs', '5'));
const runMs = Number(flag('--run-ms', '30000'));
const firstSeed = Number(flag('--seed', '1'));
const nodes = Number(flag('--nodes', '3'));
if (!(nodes === 3 || nodes === 5)) throw new Error('--nodes must be 3 or 5');
const historyDir = process.argv.includes('--history-dir') ? flag('--history-dir', '') : undefined;
const etcdBinary = process.argv.includes('--no-etcd') ? undefined : findEtcdBinary();
if (!(runs >= 1 && runs <= 1_000 && runMs >= 1_000 && runMs <= 3_600_000)) throw new Error('--runs must be 1..1000 and --run-ms 1000..3600000');
if (historyDir) mkdirSync(historyDir, { recursive: true });

const campaign = (seed: number, name: string) => ({
  seed,
  runMs,
  clients: 10,
  keys: 5,
  faults: PROCESS_NEMESIS_FAULTS,
  faultMs: [1_000, 4_000] as const,
  quietMs: [1_000, 3_000] as const,
  callTimeoutMs: 2_000,
  recoveryTimeoutMs: 60_000,
  checkTimeLimitMs: 120_000,
  ...(historyDir ? { historyFile: join(historyDir, `${name}-seed-${seed}.jsonl`) } : {}),
});

async function keelRun(seed: number): Promise<CampaignReport> {
  const cluster = await startKeelCluster({ size: nodes, fsync: true });
  const stateDir = mkdtempSync(join(tmpdir(), 'keel-jepsen-chaos-'));
  try {
    const target = keelUpTarget(cluster.dataDir, { stateDir, seed });
    await target.waitHealthy(60_000);
    return await runCampaign(target, campaign(seed, 'keel'));
  } finally {
    await cluster.stop();
    rmSync(stateDir, { recursive: true, force: true });
  }
}

async function etcdRun(binary: string, seed: number): Promise<CampaignReport> {
  const etcd = await EtcdCluster.start({ binary, size: nodes });
  const stateDir = mkdtempSync(join(tmpdir(), 'keel-jepsen-chaos-'));
  let injectors = 0;
  try {
    const target: CampaignTarget = {
      name: 'etcd',
      endpoints: etcd.endpoints,
      chaos: () => createChaos({
        cluster: { members: etcd.members.map((member) => ({ id: member.name, zone: '', clientUrl: member.clientUrl, pid: member.pid ?? null })) },
        stateDir,
        seed: seed * 10_007 + injectors++,
      }),
      recover: async () => {
        // Nothing supervises etcd here: a member the nemesis killed is started again on its data dir, as keel up does for keel.
        await new Promise((resolve) => setTimeout(resolve, 500));
        etcd.members.forEach((member, index) => {
          if (member.pid === undefined) etcd.restart(index);
        });
      },
      waitHealthy: async (timeoutMs) => {
        await etcd.waitForLeader(timeoutMs);
        // etcd 3.4 has no /readyz: /health answers {"health":"true"} once the member has a leader.
        const healthy = async (url: string): Promise<boolean> => {
          const response = await fetch(`${url}/health`, { signal: AbortSignal.timeout(1_000) }).catch(() => undefined);
          return response?.ok === true && ((await response.json()) as { health?: string }).health === 'true';
        };
        await waitUntil(async () => etcd.members.every((member) => member.pid !== undefined) && (await Promise.all(etcd.endpoints.map(healthy))).every(Boolean), timeoutMs, 'etcd serving');
      },
    };
    await target.waitHealthy(60_000);
    return await runCampaign(target, campaign(seed, 'etcd'));
  } finally {
    await etcd.stop();
    rmSync(stateDir, { recursive: true, force: true });
  }
}

const reports: CampaignReport[] = [];
for (let run = 0; run < runs; run++) {
  const seed = firstSeed + run;
  const keel = await keelRun(seed);
  console.error(describeReport(keel));
  reports.push(keel);
  if (etcdBinary) {
    const etcd = await etcdRun(etcdBinary, seed);
    console.error(describeReport(etcd));
    reports.push(etcd);
  }
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;
console.log(`\nJepsen-style campaign: ${runs} runs of ${runMs / 1000} s each, seeds ${firstSeed}..${firstSeed + runs - 1}, ${nodes} members on loopback, 10 clients on 5 keys, faults ${PROCESS_NEMESIS_FAULTS.join(', ')}, node ${process.version}\n`);
console.log('| system | runs | operations | ok | unknown | faults injected | watch events | violations (linearizability / revisions) | undecided | recovered | longest write gap median / max | writes/s median |');
console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|');
for (const name of ['keel', 'etcd']) {
  const mine = reports.filter((report) => report.target === name);
  if (mine.length === 0) continue;
  const sum = (pick: (report: CampaignReport) => number): number => mine.reduce((total, report) => total + pick(report), 0);
  const gaps = mine.map((report) => report.longestWriteGapMs);
  console.log(`| ${name} | ${mine.length} | ${sum((r) => r.operations)} | ${sum((r) => r.ok)} | ${sum((r) => r.unknown)} | ${sum((r) => r.faults.filter((f) => f.injected).length)} | ` +
    `${sum((r) => r.revisions.watchEvents)} | ${mine.filter((r) => r.check.verdict === 'violation').length} / ${mine.filter((r) => r.revisions.verdict === 'violation').length} | ${mine.filter((r) => r.verdict === 'unknown').length} | ${mine.filter((r) => r.recovered).length}/${mine.length} | ` +
    `${median(gaps)} / ${Math.max(...gaps)} ms | ${median(mine.map((r) => r.writesPerSecond))} |`);
}
if (!etcdBinary) console.log('\n(etcd not installed or --no-etcd: no control rows)');
const failed = reports.some((report) => report.target === 'keel' && (report.verdict !== 'ok' || !report.recovered));
process.exitCode = failed ? 99 : 0;
