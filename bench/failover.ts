/**
 * bench/failover: how long writes stop when the leader is killed with
 * SIGKILL. A writer puts continuously through the surviving members; the
 * gap is the time from the kill to the first acknowledged write after it.
 * Repeated `--rounds` times on one 3-member cluster with keel's default
 * timing (25 ms ticks, election timeout 12-24 ticks).
 *
 *   npm run build && npx tsx bench/failover.ts [--rounds 5]
 */
import { Cluster, put, sleep } from '../test/node/cluster-harness.js';

const roundsArg = process.argv.indexOf('--rounds');
const rounds = roundsArg > 0 ? Number(process.argv[roundsArg + 1]) : 5;

const cluster = await Cluster.start({ nodes: 3 });
const gaps: number[] = [];
try {
  for (let round = 0; round < rounds; round++) {
    const leader = await cluster.leader();
    const survivors = cluster.members.filter((m) => m.id !== leader.id);
    const killedAt = performance.now();
    await cluster.kill(leader.id, 'SIGKILL');
    let written = false;
    for (let attempt = 0; !written && attempt < 10_000; attempt++) {
      const target = survivors[attempt % survivors.length]!;
      try {
        await put(target.clientUrl, `failover/${round}/${attempt}`, 'v', 1_000);
        written = true;
      } catch {
        await sleep(5);
      }
    }
    gaps.push(performance.now() - killedAt);
    cluster.launch(leader.id);
    await cluster.waitReady();
    await sleep(500);
  }
} finally {
  await cluster.stop();
}
gaps.sort((a, b) => a - b);
const ms = (value: number): string => `${Math.round(value)} ms`;
console.log(`keel: writes unavailable after kill -9 of the leader, ${rounds} rounds, 3 members on loopback, node ${process.version}\n`);
console.log('| min | median | max |');
console.log('|---:|---:|---:|');
console.log(`| ${ms(gaps[0]!)} | ${ms(gaps[Math.floor(gaps.length / 2)]!)} | ${ms(gaps.at(-1)!)} |`);
