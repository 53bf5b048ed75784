import { badSlo } from './errors.js';

/**
 * Durations. OpenSLO writes them as a number and one unit (`28d`, `1w`,
 * `1M`, `1Q`, `1Y`; the spec's shorthand) and Prometheus as compound text
 * (`1h30m`); both parse here. Month, quarter and year are calendar units:
 * as rolling windows they count 30, 90 and 365 days, as calendar windows
 * they follow the calendar (see calendar.ts).
 */
const UNIT_SECONDS: Record<string, number> = {
  ms: 0.001, s: 1, m: 60, h: 3_600, d: 86_400, w: 604_800, M: 30 * 86_400, Q: 90 * 86_400, Y: 365 * 86_400,
};
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d|w|M|Q|Y)/gy;

/** Seconds in `text`; `field` names the place in the error. */
export function parseDurationSeconds(text: string, field: string): number {
  const trimmed = text.trim();
  PART.lastIndex = 0;
  let seconds = 0;
  let consumed = 0;
  for (let match = PART.exec(trimmed); match !== null; match = PART.exec(trimmed)) {
    seconds += Number(match[1]) * UNIT_SECONDS[match[2]!]!;
    consumed = PART.lastIndex;
  }
  if (trimmed.length === 0 || consumed !== trimmed.length || !(seconds > 0)) {
    throw badSlo(`${field}: '${text}' is not a duration (write 5m, 1h, 28d, 1w or 1M)`);
  }
  return seconds;
}

/**
 * Prometheus duration text for a number of seconds (`300` -> `5m`, `0.5` ->
 * `500ms`). Whole units only, largest first, as Prometheus prints them;
 * fractions of a millisecond are rounded (a time-scaled window may be one).
 */
export function promDuration(seconds: number): string {
  let ms = Math.max(1, Math.round(seconds * 1000));
  let text = '';
  for (const [unit, size] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1_000], ['ms', 1]] as const) {
    const count = Math.floor(ms / size);
    if (count > 0) {
      text += `${count}${unit}`;
      ms -= count * size;
    }
  }
  return text;
}

/** The window's name in rule names and `sloth_window` (`5m`, `1h`, `3d`, `30d`): Prometheus text of the unscaled window. */
export function windowName(seconds: number): string {
  return promDuration(seconds);
}
