// Preloaded into members (`node --import`, e.g. through bench/scale.ts's
// `--keel-node-args=--import=<this file>`): counts the Buffers of 256 KiB
// or more that JavaScript allocates (Buffer.alloc*, Buffer.concat, a
// Uint8Array's slice, latin1Slice's strings), by the five frames that
// allocated them, and every 2 s writes the table to
// $KEEL_ALLOC_DIR/allocations-<pid>.txt (default: the system's temp dir):
// MiB, count, kind and stack, largest first. Node's own reads into socket
// buffers are not seen. Every Buffer counts towards V8's next full
// collection, which is why the member's copies of a large value matter
// (docs/persistence.md, "Garbage collection and large values"). A
// measuring aid: it slows every allocation down.
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const LARGE_BYTES = 256 * 1024;
const FRAMES = 5;
const WRITE_EVERY_MS = 2_000;
const ROWS_MAX = 25;
const out = join(process.env.KEEL_ALLOC_DIR ?? tmpdir(), `allocations-${process.pid}.txt`);

const counts = new Map();
/** Buffer.concat allocates through Buffer.allocUnsafe: counted once, as the concat. */
let inConcat = false;
function count(kind, bytes) {
  if (bytes < LARGE_BYTES || inConcat) return;
  const frames = new Error().stack.split('\n').slice(3, 3 + FRAMES).map((line) => line.trim().replace(/^at /, ''));
  const key = `${kind} | ${frames.join(' < ')}`;
  const row = counts.get(key) ?? { n: 0, bytes: 0 };
  row.n++;
  row.bytes += bytes;
  counts.set(key, row);
}

for (const name of ['alloc', 'allocUnsafe', 'allocUnsafeSlow']) {
  const original = Buffer[name];
  Buffer[name] = function (size, ...rest) {
    count(name, size);
    return original.call(this, size, ...rest);
  };
}
const concat = Buffer.concat;
Buffer.concat = function (list, total) {
  inConcat = true;
  let joined;
  try {
    joined = concat.call(this, list, total);
  } finally {
    inConcat = false;
  }
  count('concat', joined.length);
  return joined;
};
const slice = Uint8Array.prototype.slice;
Uint8Array.prototype.slice = function (...args) {
  const copy = slice.apply(this, args);
  count('slice', copy.length);
  return copy;
};
const latin1Slice = Buffer.prototype.latin1Slice;
Buffer.prototype.latin1Slice = function (...args) {
  const text = latin1Slice.apply(this, args);
  count('latin1Slice', text.length);
  return text;
};

setInterval(() => {
  const rows = [...counts].sort((a, b) => b[1].bytes - a[1].bytes).slice(0, ROWS_MAX);
  const lines = rows.map(([key, row]) => `${(row.bytes / 1_048_576).toFixed(0).padStart(7)} MiB ${String(row.n).padStart(7)}  ${key}`);
  writeFileSync(out, `${lines.join('\n')}\n`);
}, WRITE_EVERY_MS).unref();
