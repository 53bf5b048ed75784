import { DURATION_MS_MAX } from './limits.js';
import { badInput } from './errors.js';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h)/gy;

/** Parses a k6 duration ('500ms', '30s', '1m30s', '2h'); `field` names the option in the error. */
export function parseDurationMs(text: string, field: string): number {
  const trimmed = text.trim();
  PART.lastIndex = 0;
  let totalMs = 0;
  let consumed = 0;
  for (let match = PART.exec(trimmed); match !== null; match = PART.exec(trimmed)) {
    totalMs += Number(match[1]) * UNIT_MS[match[2]!]!;
    consumed = PART.lastIndex;
  }
  if (trimmed.length === 0 || consumed !== trimmed.length) throw badInput(`${field}: '${text}' is not a duration (write 500ms, 30s, 1m30s or 2h)`);
  if (totalMs > DURATION_MS_MAX) throw badInput(`${field}: ${text} is longer than the limit of 24h`);
  return Math.round(totalMs);
}

/** '1m30s' style text for a duration in milliseconds. */
export function formatDuration(ms: number): string {
  if (ms < 1_000) return `${Math.round(ms)}ms`;
  const seconds = Math.round(ms / 100) / 10;
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  const rest = Math.round(seconds - minutes * 60);
  return rest === 0 ? `${minutes}m` : `${minutes}m${rest}s`;
}
