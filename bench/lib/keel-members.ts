/**
 * The members of a `keel up` cluster as the benches see them: read from its
 * cluster.json, their JSON log lines, the leader, and the leader changes
 * each member counted.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { scrapeMetric } from './metrics.js';
import { sleepMs } from './net.js';

/** How long one scrape of a member's /metrics may take here. */
const SCRAPE_TIMEOUT_MS = 5_000;
/** Rounds of asking every member whether it leads, 200 ms apart. */
const LEADER_ROUNDS_MAX = 100;

export interface ClusterMember {
  readonly id: string;
  readonly clientUrl: string;
  readonly dataDir: string;
  readonly logPath: string;
  readonly pid: number | null;
}

/** The members `keel up` wrote to `dataDir`/cluster.json. */
export function members(dataDir: string): ClusterMember[] {
  return (JSON.parse(readFileSync(join(dataDir, 'cluster.json'), 'utf8')) as { members: ClusterMember[] }).members;
}

/** The JSON log lines of `logPath` that contain `marker` (none if the file is missing; a torn last line is skipped). */
export function logLines(logPath: string, marker: string): Record<string, unknown>[] {
  const lines: Record<string, unknown>[] = [];
  let text = '';
  try {
    text = readFileSync(logPath, 'utf8');
  } catch {
    return lines;
  }
  for (const line of text.split('\n')) {
    if (!line.includes(marker)) continue;
    try {
      lines.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // a torn last line
    }
  }
  return lines;
}

/** The member whose keel_raft_is_leader is 1 (bounded: LEADER_ROUNDS_MAX rounds). */
export async function leaderOf(list: readonly ClusterMember[]): Promise<ClusterMember> {
  for (let attempt = 0; attempt < LEADER_ROUNDS_MAX; attempt++) {
    for (const member of list) if ((await scrapeMetric(member.clientUrl, 'keel_raft_is_leader', SCRAPE_TIMEOUT_MS)) === 1) return member;
    await sleepMs(200);
  }
  throw new Error('no leader');
}

/** etcd_server_leader_changes_seen_total of each member (0 when a scrape fails). */
export async function leaderChanges(list: readonly ClusterMember[]): Promise<number[]> {
  return Promise.all(list.map(async (member) => (await scrapeMetric(member.clientUrl, 'etcd_server_leader_changes_seen_total', SCRAPE_TIMEOUT_MS)) ?? 0));
}
