/**
 * Shared by the format readers: a file's lines with their 1-based numbers,
 * bounded in size, and the checks every event goes through.
 */
import { HistoryTooLargeError, MalformedLineError } from '../errors.js';
import { OPERATION_NAMES, type OperationName, type Scalar } from '../history.js';

/** A history file larger than this is refused (it is read whole). */
export const HISTORY_BYTES_MAX = 256 * 1024 * 1024;
/** One line longer than this is malformed (no event is that long). */
export const LINE_CHARS_MAX = 1024 * 1024;

export interface NumberedLine {
  readonly text: string;
  readonly line: number;
}

/** The non-blank lines of `text`, each with its number; `#` comment lines are skipped too. */
export function* numberedLines(file: string, text: string): Generator<NumberedLine> {
  if (text.length > HISTORY_BYTES_MAX) throw new HistoryTooLargeError(file, `larger than ${HISTORY_BYTES_MAX} bytes`);
  let start = 0;
  let line = 0;
  while (start <= text.length) {
    let end = text.indexOf('\n', start);
    if (end === -1) end = text.length;
    line += 1;
    const raw = text.slice(start, end).replace(/\r$/, '');
    start = end + 1;
    if (raw.length > LINE_CHARS_MAX) throw new MalformedLineError(file, line, `line longer than ${LINE_CHARS_MAX} characters`);
    const trimmed = raw.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    yield { text: raw, line };
  }
}

export function operationName(file: string, line: number, name: unknown): OperationName {
  if (typeof name === 'string' && (OPERATION_NAMES as readonly string[]).includes(name)) return name as OperationName;
  throw new MalformedLineError(file, line, `unknown operation ${JSON.stringify(name)} (expected one of ${OPERATION_NAMES.join(', ')})`);
}

export function eventType(file: string, line: number, type: unknown): 'invoke' | 'ok' | 'fail' | 'info' {
  if (type === 'invoke' || type === 'ok' || type === 'fail' || type === 'info') return type;
  throw new MalformedLineError(file, line, `unknown event type ${JSON.stringify(type)} (expected invoke, ok, fail or info)`);
}

/** A scalar or, for cas, a pair of scalars. */
export function eventValue(file: string, line: number, value: unknown, f: OperationName, type: string): Scalar | readonly [Scalar, Scalar] {
  const scalar = (item: unknown): item is Scalar => item === null || typeof item === 'string' || (typeof item === 'number' && Number.isFinite(item));
  if (scalar(value)) {
    if (f === 'cas' && type === 'invoke') throw new MalformedLineError(file, line, 'cas takes a [from, to] pair');
    return value;
  }
  if (Array.isArray(value) && value.length === 2 && scalar(value[0]) && scalar(value[1])) return [value[0], value[1]];
  throw new MalformedLineError(file, line, `value must be a string, a number, null or a [from, to] pair, got ${JSON.stringify(value)?.slice(0, 60)}`);
}
