/**
 * What the coordinator and its workers (forked processes or remote agents)
 * say to each other. The same messages go over IPC and over the agent's
 * length-prefixed TCP frames.
 */
import type { MetricsSnapshot } from './metrics.js';
import type { HttpTlsOptions } from './http.js';
import type { ScenarioPlan } from './options.js';

/** A worker's job: which scenario file and its share of the plans. */
export interface Job {
  readonly scenarioFile: string;
  readonly plans: readonly ScenarioPlan[];
  readonly allowRemote: readonly string[];
  readonly reuseConnections: boolean;
  readonly timeoutMs: number;
  /** Sub-metric keys thresholds asked for (`http_req_duration{name:home}`). */
  readonly subMetricKeys: readonly string[];
  readonly vuIdBase: number;
  /** TLS for https targets (PEM strings, so it crosses IPC and agent frames). */
  readonly tls?: HttpTlsOptions;
}

export type ToWorker =
  | { readonly type: 'load'; readonly job: Job }
  /** Start at this instant (ms since the epoch), the same for every worker and agent. */
  | { readonly type: 'start'; readonly atEpochMs: number }
  | { readonly type: 'stop' };

export type FromWorker =
  | { readonly type: 'ready' }
  | { readonly type: 'snapshot'; readonly snapshot: MetricsSnapshot }
  /** The run is over; the last interval's metrics. */
  | { readonly type: 'done'; readonly snapshot: MetricsSnapshot }
  | { readonly type: 'failed'; readonly code: string; readonly message: string };

export function isToWorker(value: unknown): value is ToWorker {
  const type = (value as { type?: unknown } | null)?.type;
  if (type === 'load') return typeof (value as { job?: unknown }).job === 'object' && (value as { job: unknown }).job !== null;
  if (type === 'start') return typeof (value as { atEpochMs?: unknown }).atEpochMs === 'number';
  return type === 'stop';
}

export function isFromWorker(value: unknown): value is FromWorker {
  const message = value as { type?: unknown; snapshot?: unknown } | null;
  switch (message?.type) {
    case 'ready':
      return true;
    case 'snapshot':
    case 'done':
      return typeof message.snapshot === 'object' && message.snapshot !== null;
    case 'failed':
      return typeof (message as { message?: unknown }).message === 'string';
    default:
      return false;
  }
}
