import { readClusterView } from '../cluster-view.js';
import { createChaos } from '../controller.js';
import type { CampaignTarget } from './campaign.js';

/** How often health is polled while waiting for a cluster to serve again. */
const HEALTH_POLL_MS = 100;
const READY_CALL_TIMEOUT_MS = 1_000;

/**
 * A running `keel up` cluster as a campaign target: faults go through
 * keel chaos on its cluster.json, and keel up's supervisor restarts what
 * the nemesis kills. `seed` seeds each fault's choice of member (one
 * injector per fault, each seeded from it in turn).
 */
export function keelUpTarget(dataDir: string, options: { readonly stateDir: string; readonly seed: number }): CampaignTarget {
  const endpoints = readClusterView(dataDir).members.map((member) => member.clientUrl);
  let injectors = 0;
  return {
    name: 'keel',
    endpoints,
    chaos: () => createChaos({ dataDir, stateDir: options.stateDir, seed: options.seed * 10_007 + injectors++ }),
    waitHealthy: (timeoutMs) => waitUntil(async () => {
      const view = readClusterView(dataDir);
      if (view.members.some((member) => member.pid === null)) return false;
      return (await Promise.all(view.members.map((member) => isReady(member.clientUrl)))).every(Boolean);
    }, timeoutMs, `keel cluster in ${dataDir} serving again`),
  };
}

/** True when `url`/readyz answers 200 (a leader is known and the member has applied what is committed). */
export async function isReady(url: string): Promise<boolean> {
  try {
    return (await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(READY_CALL_TIMEOUT_MS) })).ok;
  } catch {
    return false;
  }
}

/** Polls `check` until it holds; throws after `timeoutMs`. */
export async function waitUntil(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, HEALTH_POLL_MS));
  }
}
