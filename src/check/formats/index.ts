/** The history formats and auto-detection from a file's first event line. */
import { readFileSync, statSync } from 'node:fs';
import { HistoryTooLargeError, UnknownFormatError } from '../errors.js';
import type { History } from '../history.js';
import { parseEdn } from './edn.js';
import { parseJepsen } from './jepsen.js';
import { parseKeel } from './keel.js';
import { HISTORY_BYTES_MAX } from './lines.js';

export type HistoryFormat = 'keel' | 'jepsen' | 'edn';
export const HISTORY_FORMATS: readonly HistoryFormat[] = ['keel', 'jepsen', 'edn'];

/** The format of `text`, judged by its first non-blank, non-comment line. */
export function detectFormat(file: string, text: string): HistoryFormat {
  const first = text.split('\n', 64).map((line) => line.trim()).find((line) => line !== '' && !line.startsWith('#'));
  if (first === undefined) throw new UnknownFormatError(file, 'empty history');
  if (/^\{\s*"/.test(first)) return 'keel';
  if (/^\{\s*:/.test(first)) return 'edn';
  if (/^\S+\s+\S+\s+-\s+\S+\t:/.test(first)) return 'jepsen';
  throw new UnknownFormatError(file, `cannot tell the format from ${JSON.stringify(first.slice(0, 60))}; pass --format keel|jepsen|edn`);
}

export function parseHistory(file: string, text: string, format: HistoryFormat | 'auto' = 'auto'): History {
  const chosen = format === 'auto' ? detectFormat(file, text) : format;
  if (chosen === 'keel') return parseKeel(file, text);
  if (chosen === 'jepsen') return parseJepsen(file, text);
  return parseEdn(file, text);
}

export function readHistoryFile(file: string, format: HistoryFormat | 'auto' = 'auto'): History {
  const size = statSync(file).size;
  if (size > HISTORY_BYTES_MAX) throw new HistoryTooLargeError(file, `${size} bytes is more than ${HISTORY_BYTES_MAX}`);
  return parseHistory(file, readFileSync(file, 'utf8'), format);
}
