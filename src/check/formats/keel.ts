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
 * `key` defaults to "" (a single register).
 *
 * For etcd's revisioned checks (see ../revisions.ts) an ok completion may
 * carry `revision` (a write's new revision; a read's header revision) and a
 * read's `modRevision` (0: the key was absent). Watch streams are recorded
 * in the same file:
 *
 *   {"process":"w0","type":"watch-start","key":"k","revision":12}
 *   {"process":"w0","type":"watch","f":"put","key":"k3","value":"2-5","revision":17,"time":5100}
 *
 * (`watch-start`'s key is the prefix the stream covers, from `revision` on.)
 * Faults injected during the run are drawn on the timeline:
 *
 *   {"process":"nemesis","type":"fault","f":"kill-leader","value":"kill -9 n2","time":4000,"end":6500}
 * See docs/check.md.
 */
import { MalformedLineError } from '../errors.js';
import { type FaultSpan, type History, type HistoryEvent, pairEvents, type WatchDelivery, type WatchStart } from '../history.js';
import { eventType, eventValue, numberedLines, operationName } from './lines.js';

/** Watch lines met while reading, kept apart from the operations. */
export interface WatchLines {
  readonly starts: WatchStart[];
  readonly deliveries: WatchDelivery[];
  readonly faults: FaultSpan[];
}

export function* keelEvents(file: string, text: string, watches?: WatchLines): Generator<HistoryEvent> {
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
    if (fields['type'] === 'fault') {
      watches?.faults.push(faultLine(file, line, fields));
      continue;
    }
    if (fields['type'] === 'watch' || fields['type'] === 'watch-start') {
      const watch = watchLine(file, line, String(process), fields);
      if (watches !== undefined) {
        if ('prefix' in watch) watches.starts.push(watch);
        else watches.deliveries.push(watch);
      }
      continue;
    }
    const type = eventType(file, line, fields['type']);
    const f = operationName(file, line, fields['f']);
    const key = fields['key'] ?? '';
    if (typeof key !== 'string') throw new MalformedLineError(file, line, 'key must be a string');
    const time = fields['time'] ?? line;
    if (typeof time !== 'number' || !Number.isFinite(time)) throw new MalformedLineError(file, line, 'time must be a finite number');
    const value = type === 'invoke' || (type === 'ok' && (f === 'read' || f === 'get')) ? eventValue(file, line, fields['value'] ?? null, f, type) : null;
    const revision = optionalRevision(file, line, fields, 'revision');
    const modRevision = optionalRevision(file, line, fields, 'modRevision');
    yield { process: String(process), type, f, key, value, time, line, revision, modRevision };
  }
}

function optionalRevision(file: string, line: number, fields: Record<string, unknown>, name: string): number | undefined {
  const value = fields[name];
  if (value === undefined) return undefined;
  if (!(typeof value === 'number' && Number.isSafeInteger(value) && value >= 0)) throw new MalformedLineError(file, line, `${name} must be a non-negative integer`);
  return value;
}

function watchLine(file: string, line: number, watcher: string, fields: Record<string, unknown>): WatchStart | WatchDelivery {
  const key = fields['key'] ?? '';
  if (typeof key !== 'string') throw new MalformedLineError(file, line, 'key must be a string');
  const revision = optionalRevision(file, line, fields, 'revision');
  if (revision === undefined) throw new MalformedLineError(file, line, `${String(fields['type'])} needs a revision`);
  if (fields['type'] === 'watch-start') return { watcher, prefix: key, revision, line };
  const event = fields['f'];
  if (event !== 'put' && event !== 'delete') throw new MalformedLineError(file, line, `a watch event's f must be put or delete, got ${JSON.stringify(event)}`);
  const value = fields['value'] ?? null;
  if (!(value === null || typeof value === 'string' || (typeof value === 'number' && Number.isFinite(value)))) throw new MalformedLineError(file, line, 'a watch event\'s value must be a string, a number or null');
  const time = fields['time'] ?? line;
  if (typeof time !== 'number' || !Number.isFinite(time)) throw new MalformedLineError(file, line, 'time must be a finite number');
  return { watcher, event, key, value, revision, time, line };
}

function faultLine(file: string, line: number, fields: Record<string, unknown>): FaultSpan {
  const name = fields['f'];
  if (typeof name !== 'string' || name === '') throw new MalformedLineError(file, line, 'a fault needs its name in f');
  const description = fields['value'] ?? name;
  if (typeof description !== 'string') throw new MalformedLineError(file, line, 'a fault\'s value must be a string describing it');
  const start = fields['time'];
  const end = fields['end'];
  if (typeof start !== 'number' || !Number.isFinite(start) || typeof end !== 'number' || !Number.isFinite(end) || end < start) {
    throw new MalformedLineError(file, line, 'a fault needs finite time and end, with end >= time');
  }
  return { name, description, start, end, line };
}

export function parseKeel(file: string, text: string): History {
  const side: WatchLines = { starts: [], deliveries: [], faults: [] };
  let history = pairEvents(file, keelEvents(file, text, side));
  if (side.starts.length > 0 || side.deliveries.length > 0) history = { ...history, watches: { starts: side.starts, deliveries: side.deliveries } };
  if (side.faults.length > 0) history = { ...history, faults: side.faults };
  return history;
}

/** A fault as keel JSONL, drawn on `keel check --html` timelines. */
export function formatFault(fault: Omit<FaultSpan, 'line'>): string {
  return JSON.stringify({ process: 'nemesis', type: 'fault', f: fault.name, value: fault.description, time: fault.start, end: fault.end });
}

/** One event as keel JSONL (the recorder's output). */
export function formatKeelEvent(event: Omit<HistoryEvent, 'line'>): string {
  const process = /^\d+$/.test(event.process) ? Number(event.process) : event.process;
  return JSON.stringify({ process, type: event.type, f: event.f, key: event.key, value: event.value, time: event.time, revision: event.revision, modRevision: event.modRevision });
}

/** A watch stream's start as keel JSONL. */
export function formatWatchStart(start: Omit<WatchStart, 'line'>): string {
  return JSON.stringify({ process: start.watcher, type: 'watch-start', key: start.prefix, revision: start.revision });
}

/** One delivered watch event as keel JSONL. */
export function formatWatchDelivery(delivery: Omit<WatchDelivery, 'line'>): string {
  return JSON.stringify({ process: delivery.watcher, type: 'watch', f: delivery.event, key: delivery.key, value: delivery.value, revision: delivery.revision, time: delivery.time });
}
