import { request as httpRequest, type IncomingMessage } from 'node:http';
import { ExperimentError } from './errors.js';
import { PROBE_TIMEOUT_MS_DEFAULT, SLOW_WATCH_DRAIN_MS_MAX, SLOW_WATCH_EVENTS_MAX } from './limits.js';

/**
 * The keel function `slow-watch` (etcd's "slow watcher" bug class): one
 * watch on the whole keyspace of one member, from the revision after now,
 * that reads nothing for `stall` ms (its socket paused: the member's writes
 * back up, first in the kernel's buffers, then in the member's) while the
 * load writes; then it reads everything until it has seen the revision the
 * member had reached when the stall ended. Every revision in between must
 * arrive once, in order: every write bumps the revision by one and is an
 * event on the whole keyspace, so a gap is a lost event. A member that
 * bounds its memory by parking the slow watcher (etcd's victims, keel's
 * WATCH_STREAM_PENDING_BYTES_MAX) must still deliver all of it once the
 * watcher drains. A cancel (a compacted revision) is reported, not hidden.
 */

export interface SlowWatchResult {
  /** The revisions the watcher had to see: (from, to]. */
  readonly from: number;
  readonly to: number;
  readonly events: number;
  /** Revisions in (from, to] no event carried. */
  readonly lost: number;
  /** Events whose revision was not above the one before (a repeat or a reorder). */
  readonly out_of_order: number;
  /** Bytes read after the stall: what the member held back or re-sent. */
  readonly bytes: number;
  readonly canceled: string | null;
  /** lost + out_of_order, + 1 if the watch was canceled: 0 when every event arrived once, in order (a tolerance's target). */
  readonly anomalies: number;
  readonly drain_ms: number;
}

export async function currentRevision(url: string): Promise<number> {
  const response = await fetch(`${url}/v3/maintenance/status`, { method: 'POST', body: '{}', signal: AbortSignal.timeout(PROBE_TIMEOUT_MS_DEFAULT) });
  if (!response.ok) throw new ExperimentError('KEEL_EXPERIMENT_PROBE', `${url}: status ${response.status}`);
  const revision = Number(((await response.json()) as { header?: { revision?: unknown } }).header?.revision ?? Number.NaN);
  if (!Number.isSafeInteger(revision) || revision < 1) throw new ExperimentError('KEEL_EXPERIMENT_PROBE', `${url}: no revision in its status`);
  return revision;
}

interface WatchLine {
  readonly result?: { readonly header?: { readonly revision?: string }; readonly events?: readonly { readonly kv?: { readonly mod_revision?: string } }[]; readonly canceled?: boolean; readonly cancel_reason?: string; readonly compact_revision?: string };
  readonly error?: { readonly message?: string };
}

const sleep = (ms: number, signal: AbortSignal | undefined): Promise<void> =>
  new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
  });

export async function slowWatch(url: string, stallMs: number, signal: AbortSignal | undefined): Promise<SlowWatchResult> {
  const from = await currentRevision(url);
  const body = `${JSON.stringify({ create_request: { key: 'AA==', range_end: 'AA==', start_revision: String(from + 1) } })}\n`;
  const controller = new AbortController();
  const response = await new Promise<IncomingMessage>((resolve, reject) => {
    const call = httpRequest(`${url}/v3/watch`, { method: 'POST', signal: controller.signal }, resolve);
    call.once('error', reject);
    call.end(body);
  });
  try {
    if (response.statusCode !== 200) throw new ExperimentError('KEEL_EXPERIMENT_PROBE', `${url}/v3/watch: status ${response.statusCode}`);
    // The slow watcher: nothing is read, so TCP's window closes and the member's writes queue up.
    response.pause();
    await sleep(stallMs, signal);
    const to = await currentRevision(url);
    return await drain(response, from, to, signal);
  } finally {
    controller.abort();
    response.destroy();
  }
}

function drain(response: IncomingMessage, from: number, to: number, signal: AbortSignal | undefined): Promise<SlowWatchResult> {
  const started = performance.now();
  const seen = new Set<number>();
  let last = from;
  let events = 0;
  let outOfOrder = 0;
  let bytes = 0;
  let buffered = '';
  let canceled: string | null = null;
  return new Promise((resolve, reject) => {
    const finish = (): void => {
      clearTimeout(timer);
      response.off('data', onData);
      let lost = 0;
      for (let revision = from + 1; revision <= to; revision++) if (!seen.has(revision)) lost++;
      resolve({ from, to, events, lost, out_of_order: outOfOrder, bytes, canceled, anomalies: lost + outOfOrder + (canceled === null ? 0 : 1), drain_ms: Math.round(performance.now() - started) });
    };
    const timer = setTimeout(finish, SLOW_WATCH_DRAIN_MS_MAX);
    signal?.addEventListener('abort', finish, { once: true });
    const onLine = (line: string): void => {
      const parsed = JSON.parse(line) as WatchLine;
      if (parsed.error !== undefined) throw new ExperimentError('KEEL_EXPERIMENT_PROBE', `watch error: ${parsed.error.message ?? line}`);
      const result = parsed.result;
      if (result?.canceled === true) canceled = `${result.cancel_reason ?? 'canceled'}${result.compact_revision !== undefined ? ` (compact revision ${result.compact_revision})` : ''}`;
      for (const event of result?.events ?? []) {
        const revision = Number(event.kv?.mod_revision ?? Number.NaN);
        if (++events > SLOW_WATCH_EVENTS_MAX) throw new ExperimentError('KEEL_EXPERIMENT_PROBE', `more than ${SLOW_WATCH_EVENTS_MAX} events`);
        // Several events of one transaction share a revision: only going back is out of order.
        if (revision < last) outOfOrder++;
        last = Math.max(last, revision);
        seen.add(revision);
      }
    };
    const onData = (chunk: Buffer): void => {
      bytes += chunk.length;
      buffered += chunk.toString('utf8');
      let newline: number;
      try {
        while ((newline = buffered.indexOf('\n')) >= 0) {
          const line = buffered.slice(0, newline).trim();
          buffered = buffered.slice(newline + 1);
          if (line !== '') onLine(line);
        }
      } catch (error) {
        clearTimeout(timer);
        response.off('data', onData);
        return reject(error instanceof Error ? error : new Error(String(error)));
      }
      if (last >= to || canceled !== null) finish();
    };
    response.on('data', onData);
    response.once('end', finish);
    response.resume();
  });
}
