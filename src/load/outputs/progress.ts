/**
 * The live display: on a TTY one line rewritten every second (elapsed/total,
 * VUs, req/s, p50/p99, errors, dropped iterations, threshold state); otherwise
 * a plain line every 10 seconds, for CI logs.
 */
import { formatDuration } from '../duration.js';
import type { TimePoint } from '../timeseries.js';

const PLAIN_EVERY_SECONDS = 10;

export class ProgressOutput {
  readonly #stream: NodeJS.WriteStream | NodeJS.WritableStream;
  readonly #tty: boolean;
  #errors = 0;
  #dropped = 0;

  constructor(stream: NodeJS.WriteStream | NodeJS.WritableStream) {
    this.#stream = stream;
    this.#tty = (stream as NodeJS.WriteStream).isTTY === true;
  }

  point(point: TimePoint, elapsedMs: number, totalMs: number, thresholdState: readonly (boolean | undefined)[]): void {
    this.#errors += point.failed;
    this.#dropped += point.dropped;
    const thresholds = thresholdState.length === 0 ? '' : ` thresholds ${thresholdState.map((state) => (state === undefined ? '·' : state ? '✓' : '✗')).join('')}`;
    const line = `${formatDuration(elapsedMs)}/${formatDuration(totalMs)} vus=${point.vus} req/s=${point.requests} p50=${point.p50Ms.toFixed(1)}ms p99=${point.p99Ms.toFixed(1)}ms errors=${this.#errors} dropped=${this.#dropped}${thresholds}`;
    if (this.#tty) this.#stream.write(`\r\x1b[2K${line}`);
    else if (Math.round(point.t) % PLAIN_EVERY_SECONDS === 0) this.#stream.write(`${line}\n`);
  }

  finish(): void {
    if (this.#tty) this.#stream.write('\n');
  }
}
