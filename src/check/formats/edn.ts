/**
 * EDN-like maps, one event a line, in real-time order (the key-value
 * histories of Porcupine's test data, Jepsen's own history format):
 * `{:process 0, :type :invoke, :f :append, :key "4", :value "x 0 1 y"}`.
 * The line number is the time. `:key` defaults to "" when absent.
 */
import { MalformedLineError } from '../errors.js';
import { type History, type HistoryEvent, pairEvents } from '../history.js';
import { EdnSyntaxError, type EdnValue, Keyword, readEdn } from './edn-values.js';
import { eventType, eventValue, numberedLines, operationName } from './lines.js';

export function* ednEvents(file: string, text: string): Generator<HistoryEvent> {
  for (const { text: raw, line } of numberedLines(file, text)) {
    let form: EdnValue;
    try {
      form = readEdn(raw);
    } catch (error) {
      if (error instanceof EdnSyntaxError) throw new MalformedLineError(file, line, error.message);
      throw error;
    }
    if (!(form instanceof Map)) throw new MalformedLineError(file, line, 'expected a map {:process .., :type .., :f .., :value ..}');
    const process = form.get('process');
    if (!(typeof process === 'number' || typeof process === 'string')) throw new MalformedLineError(file, line, ':process must be an integer or a string');
    const typeField = form.get('type');
    const fField = form.get('f');
    const type = eventType(file, line, typeField instanceof Keyword ? typeField.name : typeField);
    const f = operationName(file, line, fField instanceof Keyword ? fField.name : fField);
    const key = form.get('key') ?? '';
    if (!(typeof key === 'string' || typeof key === 'number')) throw new MalformedLineError(file, line, ':key must be a string or an integer');
    const used = type === 'invoke' || (type === 'ok' && (f === 'read' || f === 'get'));
    const raw_value = form.get('value') ?? null;
    if (used && raw_value instanceof Keyword) throw new MalformedLineError(file, line, `:value :${raw_value.name} where a value was expected`);
    const value = used ? eventValue(file, line, raw_value, f, type) : null;
    yield { process: String(process), type, f, key: String(key), value, time: line, line };
  }
}

export function parseEdn(file: string, text: string): History {
  return pairEvents(file, ednEvents(file, text));
}
