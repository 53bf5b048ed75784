/**
 * Jepsen's log lines, as in the etcd histories of the linearizability-checker
 * project: `INFO  jepsen.util - 2<TAB>:invoke<TAB>:write<TAB>4`. The number
 * after `-` is the process; then the event type, the operation, the value
 * (`nil`, an integer, `[from to]` for cas, `:timed-out` on an unknown
 * completion). There is no clock: the line number is the time, which keeps
 * the real-time order the log shows. All operations act on one register
 * (key "").
 */
import { MalformedLineError } from '../errors.js';
import { type History, type HistoryEvent, pairEvents, type Scalar } from '../history.js';
import { EdnSyntaxError, Keyword, readEdn } from './edn-values.js';
import { eventType, eventValue, numberedLines, operationName } from './lines.js';

const LINE = /^\S+\s+\S+\s+-\s+(\S+)\t(:\S+)\t(:\S+)\t(.*)$/;

export function* jepsenEvents(file: string, text: string): Generator<HistoryEvent> {
  for (const { text: raw, line } of numberedLines(file, text)) {
    const match = LINE.exec(raw.trimEnd());
    if (match === null) throw new MalformedLineError(file, line, 'expected "LEVEL logger - PROCESS<TAB>:type<TAB>:f<TAB>value"');
    const [, process, typeText, fText, valueText] = match as unknown as [string, string, string, string, string];
    const type = eventType(file, line, typeText.slice(1));
    const f = operationName(file, line, fText.slice(1));
    let parsed: unknown;
    try {
      parsed = readEdn(valueText);
    } catch (error) {
      if (error instanceof EdnSyntaxError) throw new MalformedLineError(file, line, `value: ${error.message}`);
      throw error;
    }
    // A completion that is not an ok read carries no result the checker uses (`:timed-out`, the cas pair again).
    const used = type === 'invoke' || (type === 'ok' && f === 'read');
    if (used && parsed instanceof Keyword) throw new MalformedLineError(file, line, `value :${parsed.name} where a value was expected`);
    const value: Scalar | readonly [Scalar, Scalar] = used ? eventValue(file, line, parsed, f, type) : null;
    yield { process, type, f, key: '', value, time: line, line };
  }
}

export function parseJepsen(file: string, text: string): History {
  return pairEvents(file, jepsenEvents(file, text));
}
