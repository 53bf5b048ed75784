/**
 * keel's history format (JSONL): one event a line, an invocation and later
 * its completion by the same process, as Jepsen records them:
 *
 *   {"process":1,"type":"invoke","f":"write","key":"k","value":"1-7","time":1200}
 *   {"process":1,"type":"ok","f":"write","key":"k","value":"1-7","time":3400}
 *
 * `type` is invoke, ok, fail or info; `f` one of read, write, cas, get, put,
 * append; `value` the argument on the invocation (`[from, to]` for cas, null
 * for reads) and the result on a read's completion; `time` any monotonic
 * number (the recorder writes nanoseconds), the line number when absent;
 * `key` defaults to "" (a single register). See docs/check.md.
 */
import { MalformedLineError } from '../errors.js';
import { type History, type HistoryEvent, pairEvents } from '../history.js';
import { eventType, eventValue, numberedLines, operationName } from './lines.js';

export function* keelEvents(file: string, text: string): Generator<HistoryEvent> {
  for (const { text: raw, line } of numberedLines(file, text)) {
    let record: unknown;
    try {
      record = JSON.parse(raw);
    } catch (error) {
      throw new MalformedLineError(file, line, `not JSON: ${(error as Error).message}`);
    }
    if (typeof record !== 'object' || record === null || Array.isArray(record)) throw new MalformedLineError(file, line, 'expected a JSON object');
    const fields = record as Record<string, unknown>;
    const process = fields['process'];
    if (!(typeof process === 'string' || (typeof process === 'number' && Number.isInteger(process)))) throw new MalformedLineError(file, line, 'process must be an integer or a string');
    const type = eventType(file, line, fields['type']);
    const f = operationName(file, line, fields['f']);
    const key = fields['key'] ?? '';
    if (typeof key !== 'string') throw new MalformedLineError(file, line, 'key must be a string');
    const time = fields['time'] ?? line;
    if (typeof time !== 'number' || !Number.isFinite(time)) throw new MalformedLineError(file, line, 'time must be a finite number');
    const value = type === 'invoke' || (type === 'ok' && (f === 'read' || f === 'get')) ? eventValue(file, line, fields['value'] ?? null, f, type) : null;
    yield { process: String(process), type, f, key, value, time, line };
  }
}

export function parseKeel(file: string, text: string): History {
  return pairEvents(file, keelEvents(file, text));
}

/** One event as keel JSONL (the recorder's output). */
export function formatKeelEvent(event: Omit<HistoryEvent, 'line'>): string {
  const process = /^\d+$/.test(event.process) ? Number(event.process) : event.process;
  return JSON.stringify({ process, type: event.type, f: event.f, key: event.key, value: event.value, time: event.time });
}
