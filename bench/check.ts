/**
 * The linearizability checker's speed on: the shared histories with known
 * verdicts (50 Jepsen etcd + 4 kv), a synthetic 100,000-operation kv history
 * over 1,000 keys, and one hot compare-and-set register of 5,000 operations
 * with unique values and 20% unknown writes at 10, 20 and 50 clients (each
 * also with one injected stale read). Synthetic histories come from a seeded
 * simulation of a linearizable object, so their verdicts are known; every
 * verdict is asserted. Each case is timed 5 times (median and best), parsing
 * excluded. Porcupine's figures are quoted from the issue, not run here
 * (Go and Porcupine cannot be fetched on this machine).
 *
 * Usage: npm run bench:check   (or npx tsx bench/check.ts [runs=5])
 */
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { checkHistory, type CheckOptions, type History, readHistoryFile } from '../src/check/index.js';
import { simulateHistory } from '../src/check/simulate.js';

const runs = Number(process.argv[2] ?? 5);
const fixtures = fileURLToPath(new URL('../test/check/fixtures/', import.meta.url));

interface Timing {
  readonly median: number;
  readonly best: number;
}

function timed(history: History, expected: 'ok' | 'violation', options: CheckOptions = {}): Timing {
  const times: number[] = [];
  for (let run = 0; run < runs; run += 1) {
    const started = performance.now();
    const result = checkHistory(history, options);
    times.push(performance.now() - started);
    if (result.verdict !== expected) throw new Error(`${history.source}: expected ${expected}, got ${result.verdict}`);
  }
  const sorted = times.sort((a, b) => a - b);
  return { median: sorted[Math.floor(sorted.length / 2)] as number, best: sorted[0] as number };
}

/** "median (best)": the machine is shared, so the best run shows what the code does, the median what a run may take. */
const both = (timing: Timing): string => `${seconds(timing.median)} (${seconds(timing.best)})`;

interface Row {
  readonly case: string;
  readonly measured: string;
  readonly goal: string;
  readonly porcupine: string;
}
const rows: Row[] = [];
const seconds = (ms: number): string => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(ms < 10 ? 2 : 0)} ms`);

// 1. The shared histories.
const expectedEtcd = new Map(readFileSync(`${fixtures}jepsen-etcd/EXPECTED`, 'utf8').trim().split('\n').map((line) => line.split(/\s+/) as [string, string]));
const shared: { history: History; expected: 'ok' | 'violation' }[] = [
  ...[...expectedEtcd].map(([file, verdict]) => ({ history: readHistoryFile(`${fixtures}jepsen-etcd/${file}`), expected: verdict === 'linearizable' ? ('ok' as const) : ('violation' as const) })),
  ...readdirSync(`${fixtures}kv`).map((file) => ({ history: readHistoryFile(`${fixtures}kv/${file}`), expected: file.includes('-ok') ? ('ok' as const) : ('violation' as const) })),
];
for (const [label, options] of [['verdict only', { minimize: false }], ['with counterexample shrinking', {}]] as const) {
  let total = { median: 0, best: 0 };
  let hardest = { source: '', timing: { median: 0, best: 0 } };
  for (const { history, expected } of shared) {
    const timing = timed(history, expected, options);
    total = { median: total.median + timing.median, best: total.best + timing.best };
    if (timing.median > hardest.timing.median) hardest = { source: history.source.split('/').pop() ?? '', timing };
  }
  rows.push({
    case: `shared histories (${shared.length} files), ${label}`, measured: `total ${both(total)}, hardest ${both(hardest.timing)} (${hardest.source})`, goal: '-',
    porcupine: label === 'verdict only' ? 'total 5.9 s, hardest 0.24 s' : '-',
  });
}

// 2. 100,000 kv operations over 1,000 keys.
for (const staleRead of [false, true]) {
  const simulated = simulateHistory({ seed: 1, model: 'kv', clients: 20, operations: 100_000, keys: 1000, staleRead });
  const timing = timed({ operations: simulated.operations, source: 'kv-100k' }, staleRead ? 'violation' : 'ok');
  rows.push({ case: `kv 100,000 ops, 1,000 keys, 20 clients, 20% unknown writes${staleRead ? ', 1 stale read' : ''}`, measured: both(timing), goal: '< 1 s', porcupine: staleRead ? '-' : '1.1 s' });
}

// 3. One hot register.
const porcupineHot: Record<number, string> = { 10: '1.1 s', 20: '> 90 s (did not finish)', 50: '-' };
for (const clients of [10, 20, 50]) {
  for (const staleRead of [false, true]) {
    const simulated = simulateHistory({ seed: clients, model: 'cas-register', clients, operations: 5000, staleRead });
    const timing = timed({ operations: simulated.operations, source: `hot-${clients}` }, staleRead ? 'violation' : 'ok');
    rows.push({ case: `hot cas register 5,000 ops, unique values, 20% unknown writes, ${clients} clients${staleRead ? ', 1 stale read' : ''}`, measured: both(timing), goal: '< 10 s', porcupine: staleRead ? '-' : (porcupineHot[clients] ?? '-') });
  }
}
// The same without the fast path: the general search, 10 s budget (unknown when it runs out).
for (const clients of [10, 20]) {
  const simulated = simulateHistory({ seed: clients, model: 'cas-register', clients, operations: 5000 });
  const started = performance.now();
  const result = checkHistory({ operations: simulated.operations, source: 'hot' }, { fastPath: false, timeLimitMs: 10_000 });
  if (result.verdict === 'violation') throw new Error('the search found a violation in a linearizable history');
  rows.push({ case: `same, ${clients} clients, fast path off (general search, 10 s budget)`, measured: `${seconds(performance.now() - started)}, ${result.verdict}`, goal: '-', porcupine: porcupineHot[clients] ?? '-' });
}

const header = ['case', `measured: median (best) of ${runs}`, 'goal', 'Porcupine (quoted, not run here)'];
console.log(`| ${header.join(' | ')} |`);
console.log(`|${header.map(() => '---').join('|')}|`);
for (const row of rows) console.log(`| ${row.case} | ${row.measured} | ${row.goal} | ${row.porcupine} |`);
const os = await import('node:os');
console.log(`\nnode ${process.version}, ${os.cpus().length} cores (${os.cpus()[0]?.model ?? 'unknown cpu'}), load average ${os.loadavg().map((load) => load.toFixed(1)).join(' ')}`);
