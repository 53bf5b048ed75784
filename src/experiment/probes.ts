import { readFileSync } from 'node:fs';
import { findLeader } from '../chaos/index.js';
import { isReady } from '../chaos/campaign/index.js';
import type { ExperimentCluster } from './cluster.js';
import { ExperimentError } from './errors.js';
import { CLUSTER_READY_TIMEOUT_MS, PROBE_TIMEOUT_MS_DEFAULT, SLOW_WATCH_STALL_MS_DEFAULT } from './limits.js';
import type { Activity, Provider } from './schema.js';
import { currentRevision, slowWatch } from './slow-watch.js';
import { withinTolerance } from './tolerance.js';

/**
 * Runs activities (Chaos Toolkit's probes and actions) against the
 * experiment's cluster, and records each as the journal does: what ran,
 * its output or exception, its times, whether its tolerance held.
 */

export interface ActivityRun {
  readonly activity: Activity;
  readonly status: 'succeeded' | 'failed';
  readonly output: unknown;
  readonly exception?: string;
  readonly start: string;
  readonly end: string;
  /** Seconds, as Chaos Toolkit writes it. */
  readonly duration: number;
  /** Probes with a tolerance only. */
  readonly tolerance_met?: boolean;
  /** ms since the run started (for the timeline). */
  readonly atMs: number;
}

/** What activities need of the run: the cluster, the run's clock, and a note of each fault injected. */
export interface ActivityContext {
  readonly cluster: ExperimentCluster;
  readonly startedAt: number;
  /** Aborted when the run stops (a stop condition, SIGINT): long waits end early. */
  readonly signal?: AbortSignal;
  /** Leader changes the run's monitor has seen so far (the keel function `leader-changes`). */
  leaderChanges?(): number;
  onFault?(fault: { readonly name: string; readonly description: string; readonly startMs: number; readonly endMs: number }): void;
}

export async function runActivity(activity: Activity, context: ActivityContext): Promise<ActivityRun> {
  const started = Date.now();
  let output: unknown = null;
  let exception: string | undefined;
  try {
    output = await runProvider(activity.provider, context, activity.name);
  } catch (error) {
    exception = `${ExperimentError.is(error) ? error.code : (error as { code?: string }).code ?? 'Error'}: ${(error as Error).message}`;
  }
  const ended = Date.now();
  const toleranceMet = exception === undefined && activity.tolerance !== undefined ? withinTolerance(activity.tolerance, output) : undefined;
  const failed = exception !== undefined || toleranceMet === false;
  return {
    activity,
    status: failed ? 'failed' : 'succeeded',
    output,
    ...(exception !== undefined ? { exception } : {}),
    start: new Date(started).toISOString(),
    end: new Date(ended).toISOString(),
    duration: (ended - started) / 1_000,
    ...(activity.tolerance !== undefined ? { tolerance_met: toleranceMet ?? false } : {}),
    atMs: started - context.startedAt,
  };
}

async function runProvider(provider: Provider, context: ActivityContext, name: string): Promise<unknown> {
  switch (provider.type) {
    case 'keel':
      return keelFunction(provider.func, context, provider.arguments ?? {});
    case 'http':
      return httpProbe(provider, context);
    case 'chaos':
      return chaosAction(provider, context, name);
  }
}

type KeelProvider = Extract<Provider, { type: 'keel' }>;

async function keelFunction(func: KeelProvider['func'], context: ActivityContext, args: NonNullable<KeelProvider['arguments']>): Promise<unknown> {
  const { cluster } = context;
  switch (func) {
    case 'cluster-ready':
      return (await readiness(cluster)).every(Boolean);
    case 'members-ready':
      return (await readiness(cluster)).filter(Boolean).length;
    case 'gateway-ready':
      if (cluster.gatewayUrl === undefined) return false;
      // etcd 3.4 has no /readyz: through the gateway in front of it, its /health (a member with a leader) is the readiness.
      return cluster.kind === 'etcd' ? cluster.isReady(cluster.gatewayUrl) : isReady(cluster.gatewayUrl);
    case 'leader':
      return (await findLeader(cluster.view())).id;
    case 'single-leader':
      return singleLeader(cluster);
    case 'leader-changes':
      return context.leaderChanges?.() ?? 0;
    case 'compact':
      return compact(cluster);
    case 'wait-ready': {
      // The output is how long it waited: after a kill, the supervisor's time to restore (the postmortem's MTTR).
      const started = performance.now();
      await untilAborted(cluster.waitReady(args.timeout ?? CLUSTER_READY_TIMEOUT_MS), context.signal);
      return Math.round(performance.now() - started);
    }
    case 'member-memory':
      return memberMemoryBytes(cluster);
    case 'slow-watch':
      return slowWatch(cluster.endpoints[0]!, args.stall ?? SLOW_WATCH_STALL_MS_DEFAULT, context.signal);
  }
}

async function readiness(cluster: ExperimentCluster): Promise<boolean[]> {
  const view = cluster.view();
  return Promise.all(view.members.map((member) => (member.pid === null ? Promise.resolve(false) : cluster.isReady(member.clientUrl))));
}

/** True when every member that answers names the same leader, and one does. */
async function singleLeader(cluster: ExperimentCluster): Promise<boolean> {
  const leaders = await Promise.all(cluster.view().members.map(async (member) => {
    try {
      const response = await fetch(`${member.clientUrl}/v3/maintenance/status`, { method: 'POST', body: '{}', signal: AbortSignal.timeout(PROBE_TIMEOUT_MS_DEFAULT) });
      if (!response.ok) return undefined;
      const leader = String(((await response.json()) as { leader?: unknown }).leader ?? '');
      return leader === '' || leader === '0' ? undefined : leader;
    } catch {
      return undefined;
    }
  }));
  const named = new Set(leaders.filter((leader) => leader !== undefined));
  return named.size === 1;
}

/** `${gateway}` and `${member}` in a URL become the cluster's; `${n2}` (any member's or backend's id) that member's client URL. */
export function substituteUrl(url: string, cluster: Pick<ExperimentCluster, 'gatewayUrl' | 'endpoints'> & Partial<Pick<ExperimentCluster, 'view'>>): string {
  const replaced = url.replaceAll('${gateway}', cluster.gatewayUrl ?? '${gateway}').replaceAll('${member}', cluster.endpoints[0] ?? '${member}');
  if (!replaced.includes('${') || cluster.view === undefined) return replaced;
  const urls = new Map(cluster.view().members.map((member) => [member.id, member.clientUrl]));
  return replaced.replace(/\$\{([A-Za-z][A-Za-z0-9_-]*)\}/g, (whole, id: string) => urls.get(id) ?? whole);
}

/** The largest resident set among the members (or backends) running now, in bytes (Linux's /proc/PID/status VmRSS). */
function memberMemoryBytes(cluster: ExperimentCluster): number {
  const sizes = cluster.view().members.flatMap((member) => {
    if (member.pid === null) return [];
    try {
      const kilobytes = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${member.pid}/status`, 'utf8'))?.[1];
      return kilobytes === undefined ? [] : [Number(kilobytes) * 1_024];
    } catch {
      return []; // it exited between the view and the read
    }
  });
  if (sizes.length === 0) throw new ExperimentError('KEEL_EXPERIMENT_PROBE', 'no running member to measure (/proc)');
  return Math.max(...sizes);
}

async function httpProbe(provider: Extract<Provider, { type: 'http' }>, context: ActivityContext): Promise<unknown> {
  const url = substituteUrl(provider.url, context.cluster);
  if (url.includes('${')) throw new ExperimentError('KEEL_EXPERIMENT_PROBE', `${provider.url}: this cluster has no gateway or no such member`);
  const body = provider.body === undefined ? undefined : typeof provider.body === 'string' ? provider.body : JSON.stringify(provider.body);
  const response = await fetch(url, { method: provider.method, ...(body !== undefined ? { body } : {}), signal: AbortSignal.timeout(provider.timeout ?? PROBE_TIMEOUT_MS_DEFAULT) });
  if (provider.output === 'status') {
    await response.arrayBuffer();
    return response.status;
  }
  const text = await response.text();
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

async function chaosAction(provider: Extract<Provider, { type: 'chaos' }>, context: ActivityContext, name: string): Promise<unknown> {
  const chaos = context.cluster.chaos();
  if (provider.func === 'heal') {
    const report = await chaos.heal();
    return { healed: report.faults.length, sweeps: report.sweeps };
  }
  const { duration, ...rest } = provider.arguments!;
  const startMs = Date.now() - context.startedAt;
  const fault = await chaos.inject({ ...rest, ...(duration !== undefined ? { durationMs: duration } : {}) } as never);
  const endMs = fault.expiresAt === undefined ? Date.now() - context.startedAt : fault.expiresAt - context.startedAt;
  context.onFault?.({ name, description: fault.description, startMs, endMs });
  return { fault: fault.id, description: fault.description, outcomes: fault.outcomes };
}

/** `work`, or a rejection as soon as `signal` aborts (the work itself is bounded and ends on its own). */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return work;
  if (signal.aborted) return Promise.reject(new ExperimentError('KEEL_EXPERIMENT_PROBE', 'the run was stopped'));
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(new ExperimentError('KEEL_EXPERIMENT_PROBE', 'the run was stopped'));
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/**
 * The action `compact`: an MVCC compaction (physical) at the current
 * revision, through the first member that answers. Its output is the
 * revision compacted at. Works on keel and etcd alike (their JSON API).
 */
async function compact(cluster: ExperimentCluster): Promise<number> {
  const errors: string[] = [];
  for (const url of cluster.endpoints) {
    try {
      const revision = await currentRevision(url);
      const response = await fetch(`${url}/v3/kv/compaction`, { method: 'POST', body: JSON.stringify({ revision: String(revision), physical: true }), signal: AbortSignal.timeout(PROBE_TIMEOUT_MS_DEFAULT) });
      const text = await response.text();
      if (!response.ok) throw new Error(`compaction: ${response.status} ${text.slice(0, 200)}`);
      return revision;
    } catch (error) {
      errors.push(`${url}: ${(error as Error).message}`);
    }
  }
  throw new ExperimentError('KEEL_EXPERIMENT_PROBE', `no member compacted: ${errors.join('; ')}`);
}
