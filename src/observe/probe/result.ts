import type { CheckKind } from './config.js';

/** What one check's code reports: pass or fail, why, and for HTTP checks the status seen. */
export interface Outcome {
  readonly ok: boolean;
  /** Why it failed (every failed assertion, joined by '; '); absent when it passed. */
  readonly message?: string;
  /** The HTTP status of the response (HTTP checks that got one). */
  readonly httpStatus?: number;
}

/** One run of one check, as reports, JUnit and /metrics show it. */
export interface CheckResult extends Outcome {
  readonly name: string;
  readonly kind: CheckKind;
  readonly labels: Readonly<Record<string, string>>;
  /** Wall time from start to verdict, including connecting and reading the body. */
  readonly durationMs: number;
  /** When the check started (ISO 8601). */
  readonly startedAt: string;
  /** True when the verdict is a timeout (the check was aborted at its deadline). */
  readonly timedOut: boolean;
}

/** Why a run's checks were aborted: the check's own deadline. */
export class CheckTimeoutError extends Error {
  constructor(readonly timeoutMs: number) {
    super(`timed out after ${timeoutMs} ms`);
    this.name = 'CheckTimeoutError';
  }
}

export const pass = (extra: { httpStatus?: number } = {}): Outcome => ({ ok: true, ...extra });
export const fail = (message: string, extra: { httpStatus?: number } = {}): Outcome => ({ ok: false, message, ...extra });

/** An error's message with its code (ECONNREFUSED ...) when it has one, so a failure says what happened. */
export function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = 'code' in error && typeof error.code === 'string' ? error.code : undefined;
  const cause = error.cause instanceof Error ? `: ${describeError(error.cause)}` : '';
  const message = error.message.length > 0 ? error.message.trim().replace(/\.? *Resolution note:\s*$/, "") : (code ?? error.name);
  return `${code !== undefined && !message.includes(code) ? `${code} ` : ''}${message}${cause}`;
}
