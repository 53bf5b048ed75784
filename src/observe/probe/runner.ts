/**
 * Runs checks: each under its own deadline, many at once but never more than
 * the concurrency bound. A check's verdict never waits past its timeout: the
 * AbortSignal given to the check's code destroys its socket, and should the
 * code not settle anyway, the runner reports the timeout a short grace later
 * and moves on.
 */
import type { Check } from './config.js';
import { runGrpcHealthCheck } from './grpc-health-check.js';
import { runHttpCheck } from './http-check.js';
import { runKvCheck } from './kv-check.js';
import { CONCURRENCY_DEFAULT, MESSAGE_LENGTH_MAX, TIMEOUT_GRACE_MS } from './limits.js';
import { CheckTimeoutError, describeError, fail, type CheckResult, type Outcome } from './result.js';
import { Semaphore } from './semaphore.js';
import { runTcpCheck } from './tcp-check.js';

function dispatch(check: Check, signal: AbortSignal): Promise<Outcome> {
  switch (check.kind) {
    case 'http': return runHttpCheck(check.http, check.timeoutMs, signal);
    case 'kv': return runKvCheck(check.kv, check.name, check.timeoutMs, signal);
    case 'grpcHealth': return runGrpcHealthCheck(check.grpcHealth, check.timeoutMs, signal);
    case 'tcp': return runTcpCheck(check.tcp, signal);
  }
}

/** Runs one check to a verdict; never rejects, never outlives its timeout by more than TIMEOUT_GRACE_MS. */
export async function runCheck(check: Check): Promise<CheckResult> {
  const startedAt = new Date();
  const started = performance.now();
  const controller = new AbortController();
  const timeout = new CheckTimeoutError(check.timeoutMs);
  let graceTimer: NodeJS.Timeout | undefined;
  const deadlineTimer = setTimeout(() => controller.abort(timeout), check.timeoutMs);
  const graceElapsed = new Promise<Outcome>((resolve) => {
    graceTimer = setTimeout(() => resolve(fail(timeout.message)), check.timeoutMs + TIMEOUT_GRACE_MS);
  });
  let outcome: Outcome;
  try {
    outcome = await Promise.race([dispatch(check, controller.signal), graceElapsed]);
  } catch (error) {
    outcome = fail(controller.signal.aborted ? timeout.message : describeError(error));
  } finally {
    clearTimeout(deadlineTimer);
    clearTimeout(graceTimer);
  }
  const timedOut = controller.signal.aborted && !outcome.ok;
  // Aborting also ends work still in flight when the grace ran out first.
  controller.abort(timeout);
  return {
    ...outcome,
    ...(outcome.message === undefined ? {} : { message: outcome.message.slice(0, MESSAGE_LENGTH_MAX) }),
    name: check.name,
    kind: check.kind,
    labels: check.labels,
    durationMs: performance.now() - started,
    startedAt: startedAt.toISOString(),
    timedOut,
  };
}

export interface RunOptions {
  /** Checks in flight at once (default CONCURRENCY_DEFAULT). */
  readonly concurrency?: number;
}

/** Runs every check once, concurrently up to the bound; results in the file's order. */
export function runChecks(checks: readonly Check[], options: RunOptions = {}): Promise<CheckResult[]> {
  const semaphore = new Semaphore(options.concurrency ?? CONCURRENCY_DEFAULT);
  return Promise.all(checks.map((check) => semaphore.run(() => runCheck(check))));
}
