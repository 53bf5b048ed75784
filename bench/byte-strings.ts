/**
 * Bytes to byte strings and back (src/codec/latin1.ts), the conversion the
 * store makes for every key and value it writes, reads or snapshots: the
 * loops of JavaScript per byte it used before issue 14 (the anchor, in the
 * same run) against Node's Latin-1 codec, at key and value sizes from 8
 * bytes to 1 MiB. Prints ns per conversion each way and old ÷ new; checks
 * both give the same bytes. latin1.ts's NATIVE_WRITE_UNITS_MIN, the size
 * from which latin1IntoBytes calls the native writer, comes from its figures.
 * Usage: npx tsx bench/byte-strings.ts [sizes=8,22,64,128,1024,65536,1048576]
 */
import { latin1FromBytes, latin1IntoBytes } from '../src/codec/index.js';
import { markdownTable } from './lib/table.js';

const sizes = (process.argv[2] ?? '8,22,64,128,1024,65536,1048576').split(',').map(Number);
const BYTES_PER_SIZE = 64 * 1024 * 1024;
const FROM_CHAR_CODE_CHUNK = 8192;

function loopFromBytes(bytes: Uint8Array): string {
  let text = '';
  for (let offset = 0; offset < bytes.length; offset += FROM_CHAR_CODE_CHUNK) {
    text += String.fromCharCode.apply(null, bytes.subarray(offset, offset + FROM_CHAR_CODE_CHUNK) as unknown as number[]);
  }
  return text;
}

function loopToBytes(text: string): Uint8Array {
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return bytes;
}

function nativeToBytes(text: string): Uint8Array {
  const bytes = new Uint8Array(text.length);
  latin1IntoBytes(text, bytes, 0);
  return bytes;
}

/** ns per call, the best of 3 rounds (the machine is shared). */
function timeNs<T>(iterations: number, run: () => T): number {
  let best = Number.POSITIVE_INFINITY;
  for (let round = 0; round < 3; round++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) run();
    best = Math.min(best, Number(process.hrtime.bigint() - start) / iterations);
  }
  return best;
}

const rows: string[][] = [];
for (const size of sizes) {
  const bytes = new Uint8Array(size).map((_, i) => (i * 37) & 0xff);
  const text = loopFromBytes(bytes);
  if (latin1FromBytes(bytes) !== text) throw new Error(`latin1FromBytes differs at ${size} bytes`);
  if (!nativeToBytes(text).every((byte, i) => byte === bytes[i])) throw new Error(`latin1IntoBytes differs at ${size} bytes`);
  const iterations = Math.max(10, Math.floor(BYTES_PER_SIZE / Math.max(size, 64)));
  const fromLoop = timeNs(iterations, () => loopFromBytes(bytes));
  const fromNative = timeNs(iterations, () => latin1FromBytes(bytes));
  const toLoop = timeNs(iterations, () => loopToBytes(text));
  const toNative = timeNs(iterations, () => nativeToBytes(text));
  rows.push([
    String(size),
    fromLoop.toFixed(0),
    fromNative.toFixed(0),
    `${(fromLoop / fromNative).toFixed(1)}x`,
    toLoop.toFixed(0),
    toNative.toFixed(0),
    `${(toLoop / toNative).toFixed(1)}x`,
  ]);
}
console.log(
  markdownTable(
    ['bytes', 'to string: loop ns', 'native ns', 'loop ÷ native', 'to bytes: loop ns', 'latin1IntoBytes ns', 'loop ÷ native'],
    rows,
  ),
);
