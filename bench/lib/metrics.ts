/**
 * One unlabelled gauge or counter from a member's /metrics (keel's or
 * etcd's: keel exports etcd's names too), or undefined when the member does
 * not answer in time, answers with an error, or lacks the series. Benches
 * read keel_nodejs_eventloop_lag_max_seconds (reset by each scrape) and
 * etcd_server_leader_changes_seen_total through it.
 */
export async function scrapeMetric(endpoint: string, name: string, timeoutMs: number): Promise<number | undefined> {
  let text: string;
  try {
    const response = await fetch(`${endpoint}/metrics`, { signal: AbortSignal.timeout(timeoutMs) });
    if (!response.ok) return undefined;
    text = await response.text();
  } catch {
    return undefined;
  }
  const match = new RegExp(`^${name} (\\S+)`, 'm').exec(text);
  return match ? Number(match[1]) : undefined;
}
