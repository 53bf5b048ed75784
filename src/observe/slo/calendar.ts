import { badSlo } from './errors.js';

/**
 * Calendar windows: the budget restarts at each period's start (the first
 * of the month, Monday, ...), counted in the window's time zone from
 * OpenSLO's `calendar.startTime`, so a month is a calendar month and a day
 * across a DST change is 23 or 25 hours. Only Intl (the ICU time zone data
 * Node ships) is used.
 */

export type CalendarUnit = 'd' | 'w' | 'M' | 'Q' | 'Y';

export interface WallTime {
  readonly year: number;
  readonly month: number;
  readonly day: number;
  readonly hour: number;
  readonly minute: number;
  readonly second: number;
}

const START_TIME = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})$/;

/** OpenSLO's `startTime` (`2024-01-01 00:00:00`, wall time in the window's zone). */
export function parseStartTime(text: string, field: string): WallTime {
  const match = START_TIME.exec(text.trim());
  if (match === null) throw badSlo(`${field}: '${text}' is not a start time (write 2024-01-01 00:00:00)`);
  const [year, month, day, hour, minute, second] = match.slice(1).map(Number) as [number, number, number, number, number, number];
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 59) throw badSlo(`${field}: '${text}' is not a valid date and time`);
  return { year, month, day, hour, minute, second };
}

export function checkTimeZone(timeZone: string, field: string): void {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone });
  } catch {
    throw badSlo(`${field}: '${timeZone}' is not a time zone (write an IANA name such as UTC or Europe/Berlin)`);
  }
}

const formatters = new Map<string, Intl.DateTimeFormat>();

/** Milliseconds the zone's wall clock is ahead of UTC at `instantMs`. */
function zoneOffsetMs(instantMs: number, timeZone: string): number {
  let format = formatters.get(timeZone);
  if (format === undefined) {
    format = new Intl.DateTimeFormat('en-US', { timeZone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' });
    if (formatters.size < 100) formatters.set(timeZone, format);
  }
  const parts: Record<string, number> = {};
  for (const part of format.formatToParts(new Date(instantMs))) if (part.type !== 'literal') parts[part.type] = Number(part.value);
  const wall = Date.UTC(parts.year!, parts.month! - 1, parts.day!, parts.hour!, parts.minute!, parts.second!);
  return wall - Math.floor(instantMs / 1000) * 1000;
}

/** The instant a wall time in `timeZone` names (the later one of a repeated hour's, a skipped hour's shifted). */
function wallToInstant(wall: WallTime, monthsAdded: number, daysAdded: number, timeZone: string): number {
  const guess = Date.UTC(wall.year, wall.month - 1 + monthsAdded, wall.day + daysAdded, wall.hour, wall.minute, wall.second);
  const first = guess - zoneOffsetMs(guess, timeZone);
  return guess - zoneOffsetMs(first, timeZone);
}

function periodStart(wall: WallTime, unit: CalendarUnit, count: number, index: number, timeZone: string): number {
  switch (unit) {
    case 'd': return wallToInstant(wall, 0, index * count, timeZone);
    case 'w': return wallToInstant(wall, 0, index * count * 7, timeZone);
    case 'M': return wallToInstant(wall, index * count, 0, timeZone);
    case 'Q': return wallToInstant(wall, index * count * 3, 0, timeZone);
    case 'Y': return wallToInstant(wall, index * count * 12, 0, timeZone);
  }
}

/** The calendar period holding `nowMs`: its start and end (ms since the epoch). Periods before startTime extend backwards. */
export function calendarPeriod(wall: WallTime, unit: CalendarUnit, count: number, timeZone: string, approxSeconds: number, nowMs: number): { startMs: number; endMs: number } {
  const origin = periodStart(wall, unit, count, 0, timeZone);
  let index = Math.floor((nowMs - origin) / (approxSeconds * 1000));
  // The estimate is off by at most a period or two (months differ in length, DST); walk to the right one, boundedly.
  for (let step = 0; step < 16 && periodStart(wall, unit, count, index, timeZone) > nowMs; step++) index--;
  for (let step = 0; step < 16 && periodStart(wall, unit, count, index + 1, timeZone) <= nowMs; step++) index++;
  return { startMs: periodStart(wall, unit, count, index, timeZone), endMs: periodStart(wall, unit, count, index + 1, timeZone) };
}
