const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h)/gy;

/** Milliseconds in a duration written as Prometheus and k6 do ('500ms', '5s', '1m30s'), or undefined when it is not one. */
export function parseDurationMs(text: string): number | undefined {
  const trimmed = text.trim();
  PART.lastIndex = 0;
  let totalMs = 0;
  let consumed = 0;
  for (let match = PART.exec(trimmed); match !== null; match = PART.exec(trimmed)) {
    totalMs += Number(match[1]) * UNIT_MS[match[2]!]!;
    consumed = PART.lastIndex;
  }
  if (trimmed.length === 0 || consumed !== trimmed.length) return undefined;
  return Math.round(totalMs);
}
