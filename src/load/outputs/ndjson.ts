/** `--out ndjson=FILE`: one JSON line per second of the run, then the summary line. */
import { appendFileSync, writeFileSync } from 'node:fs';
import type { Summary } from '../summary.js';
import type { TimePoint } from '../timeseries.js';

export class NdjsonOutput {
  constructor(readonly file: string) {
    writeFileSync(file, '');
  }

  point(point: TimePoint): void {
    appendFileSync(this.file, `${JSON.stringify({ type: 'point', ...point })}\n`);
  }

  finish(summary: Summary): void {
    appendFileSync(this.file, `${JSON.stringify({ type: 'summary', ...summary })}\n`);
  }
}
