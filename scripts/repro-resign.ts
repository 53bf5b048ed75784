/**
 * Tries to reproduce issue 14's flake: the npm etcd3 client's election test
 * once saw `campaign.resign()` fail with `14 UNAVAILABLE: No connection
 * established` on a follower, in its after-each hook, right after the test
 * closed two other clients.
 *
 * It starts a 3-member keel cluster (the built `keel up`, bench/lib/keel-cluster.ts)
 * and repeats what that test does, against one follower:
 *   1. client 1 campaigns and is elected;
 *   2. clients 2 and 3 campaign on the same election and queue behind it;
 *   3. they resign and are closed (the test body's end);
 *   4. client 1 resigns at once (the after-each hook), and is closed.
 * Each failure of step 4 is counted, UNAVAILABLE apart. The loop is bounded
 * by a count and by a time limit and stops by itself; the cluster's
 * processes are stopped by PID at the end.
 *
 * Usage: npx tsx scripts/repro-resign.ts [--iterations 300] [--max-seconds 600]
 *          [--pool shared|local] [--bin dist/src/cli/main.js]
 *   --pool shared: the three clients share grpc-js's global subchannel pool,
 *     as the etcd3 test suite's clients do (same target and options: one TCP
 *     connection to the follower). local: each client has its own connection
 *     (grpc.use_local_subchannel_pool), so closing clients 2 and 3 closes
 *     their connections through keel's loopback hop while client 1 resigns.
 *   --bin: another build's dist/src/cli/main.js (a before and an after).
 * Needs `npm run build` (or --bin). Exit codes: 0 no resign failed, 1 usage
 * or runtime error, 99 at least one resign failed.
 */
import { Etcd3 } from 'etcd3';
import type { Campaign } from 'etcd3';
import { startKeelCluster } from '../bench/lib/keel-cluster.js';
import type { KeelCluster } from '../bench/lib/keel-cluster.js';

const ITERATIONS_MAX = 10_000;
const SECONDS_MAX = 3_600;
/** Each step of an iteration is bounded; a step past this counts as stuck and the iteration is abandoned. */
const STEP_TIMEOUT_MS = 10_000;
/** The campaigns' lease TTL, as in etcd3's election test. */
const TTL_SECONDS = 1;
/** Which member is a follower is asked again this often (and after any failure): a leader change moves it. */
const FOLLOWER_REFRESH_ITERATIONS = 50;

interface Options {
  readonly iterations: number;
  readonly maxSeconds: number;
  readonly pool: 'shared' | 'local';
  readonly bin: string | undefined;
}

interface Tally {
  iterations: number;
  resignOk: number;
  resignUnavailable: number;
  resignOther: number;
  /** An iteration whose setup (campaign, queueing, closing) failed or got stuck: not counted as a resign result. */
  setupFailed: number;
  readonly samples: string[];
}

class UsageError extends Error {}

function parseOptions(argv: readonly string[]): Options {
  const value = (name: string, fallback: string): string => {
    const index = argv.indexOf(name);
    if (index < 0) return fallback;
    const found = argv[index + 1];
    if (found === undefined) throw new UsageError(`${name} needs a value`);
    return found;
  };
  for (const arg of argv) if (arg.startsWith('--') && !['--iterations', '--max-seconds', '--pool', '--bin'].includes(arg)) throw new UsageError(`unknown option ${arg}`);
  const iterations = Number(value('--iterations', '300'));
  const maxSeconds = Number(value('--max-seconds', '600'));
  const pool = value('--pool', 'shared');
  if (!Number.isInteger(iterations) || iterations < 1 || iterations > ITERATIONS_MAX) throw new UsageError(`--iterations must be 1..${ITERATIONS_MAX}`);
  if (!Number.isFinite(maxSeconds) || maxSeconds <= 0 || maxSeconds > SECONDS_MAX) throw new UsageError(`--max-seconds must be in (0, ${SECONDS_MAX}]`);
  if (pool !== 'shared' && pool !== 'local') throw new UsageError('--pool must be shared or local');
  const bin = argv.includes('--bin') ? value('--bin', '') : undefined;
  return { iterations, maxSeconds, pool, bin };
}

async function withTimeout<T>(promise: Promise<T>, what: string, ms = STEP_TIMEOUT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error(`stuck: ${what} took over ${ms} ms`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** A follower's host:port, by asking each member's status over the JSON gateway. */
async function findFollower(endpoints: readonly string[]): Promise<string> {
  for (const endpoint of endpoints) {
    try {
      const response = await fetch(`${endpoint}/v3/maintenance/status`, { method: 'POST', body: '{}', signal: AbortSignal.timeout(2_000) });
      const status = (await response.json()) as { leader?: string; header?: { member_id?: string } };
      if (status.leader && status.header?.member_id && status.leader !== status.header.member_id) return new URL(endpoint).host;
    } catch {
      // down or busy: ask the next
    }
  }
  throw new Error('no member reports itself a follower of a known leader');
}

function isUnavailable(error: unknown): boolean {
  const { code, message, name } = error as { code?: unknown; message?: unknown; name?: unknown };
  return code === 14 || name === 'GRPCUnavailableError' || (typeof message === 'string' && /UNAVAILABLE|No connection established/.test(message));
}

/** Resolves once the campaign is queued behind an earlier one (etcd3 emits `_isWaiting` then; its own tests sync on it). */
function queued(campaign: Campaign): Promise<void> {
  return new Promise((resolve, reject) => {
    const events = campaign as unknown as NodeJS.EventEmitter;
    events.once('_isWaiting', () => resolve());
    events.once('elected', () => reject(new Error('elected while an earlier campaign held the election')));
    events.once('error', reject);
  });
}

async function iteration(host: string, election: string, options: Options, tally: Tally): Promise<void> {
  const grpcOptions = options.pool === 'local' ? { 'grpc.use_local_subchannel_pool': 1 } : undefined;
  const newClient = (): Etcd3 => new Etcd3({ hosts: [host], dialTimeout: 2_000, ...(grpcOptions ? { grpcOptions } : {}) });
  const clients: Etcd3[] = [];
  let first: Campaign;
  try {
    const client1 = newClient();
    clients.push(client1);
    first = client1.election(election, TTL_SECONDS).campaign('candidate');
    await withTimeout(first.wait(), 'client 1 to be elected');
    const others = [newClient(), newClient()];
    clients.push(...others);
    const campaigns = others.map((client, index) => client.election(election, TTL_SECONDS).campaign(`candidate${index + 2}`));
    await withTimeout(Promise.all(campaigns.map(queued)), 'clients 2 and 3 to queue');
    await withTimeout(Promise.all(campaigns.map((campaign) => campaign.resign())), 'clients 2 and 3 to resign');
    for (const client of others) client.close();
  } catch (error) {
    tally.setupFailed++;
    if (tally.samples.length < 10) tally.samples.push(`setup: ${(error as Error).message}`);
    for (const client of clients) client.close();
    throw error;
  }
  try {
    await withTimeout(first.resign(), 'client 1 to resign');
    tally.resignOk++;
  } catch (error) {
    if (isUnavailable(error)) tally.resignUnavailable++;
    else tally.resignOther++;
    if (tally.samples.length < 10) tally.samples.push(`resign: ${(error as Error).name}: ${(error as Error).message}`);
    throw error;
  } finally {
    clients[0]!.close();
  }
}

async function main(): Promise<number> {
  let options: Options;
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`repro-resign: ${error.message}`);
    return 1;
  }
  const tally: Tally = { iterations: 0, resignOk: 0, resignUnavailable: 0, resignOther: 0, setupFailed: 0, samples: [] };
  let cluster: KeelCluster | undefined;
  const started = Date.now();
  try {
    cluster = await startKeelCluster({ size: 3, fsync: true, ...(options.bin ? { bin: options.bin } : {}) });
    const run = `repro-resign-${process.pid}-${started}`;
    let follower = await findFollower(cluster.endpoints);
    console.log(`cluster ${cluster.endpoints.join(' ')}; follower ${follower}; pool ${options.pool}; bin ${options.bin ?? 'dist/src/cli/main.js'}`);
    const deadline = started + options.maxSeconds * 1000;
    for (let index = 0; index < options.iterations && Date.now() < deadline; index++) {
      if (index > 0 && index % FOLLOWER_REFRESH_ITERATIONS === 0) follower = await findFollower(cluster.endpoints);
      tally.iterations++;
      try {
        await iteration(follower, `${run}/${index}`, options, tally);
      } catch {
        follower = await findFollower(cluster.endpoints);
      }
      if ((index + 1) % 50 === 0) console.log(`${index + 1} iterations: ${JSON.stringify({ ...tally, samples: undefined })}`);
    }
  } catch (error) {
    console.error(`repro-resign: ${(error as Error).message}`);
    return 1;
  } finally {
    await cluster?.stop();
  }
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  console.log(`done in ${seconds} s: ${tally.iterations} iterations, resign ok ${tally.resignOk}, UNAVAILABLE ${tally.resignUnavailable}, other resign failures ${tally.resignOther}, setup failures ${tally.setupFailed}`);
  for (const sample of tally.samples) console.log(`  ${sample}`);
  return tally.resignUnavailable + tally.resignOther > 0 ? 99 : 0;
}

// grpc-js channels of closed etcd3 clients can hold the event loop for a while; the run is over.
process.exit(await main());
