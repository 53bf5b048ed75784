/**
 * CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of
 * iSCSI, ext4 and etcd's WAL. Table-driven, slicing by 8 bytes: fast enough
 * in JavaScript that checksumming is not what limits the WAL (fsync is).
 */
const POLY = 0x82f63b78;
const TABLES: Uint32Array[] = buildTables();

function buildTables(): Uint32Array[] {
  const tables: Uint32Array[] = [];
  const first = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLY : c >>> 1;
    first[n] = c >>> 0;
  }
  tables.push(first);
  for (let t = 1; t < 8; t++) {
    const previous = tables[t - 1]!;
    const table = new Uint32Array(256);
    for (let n = 0; n < 256; n++) table[n] = ((previous[n]! >>> 8) ^ first[previous[n]! & 0xff]!) >>> 0;
    tables.push(table);
  }
  return tables;
}

/** A CRC-32C implementation over a whole array, continuing from `seed`: what an accelerated one offers. */
export type Crc32cFunction = (bytes: Uint8Array, seed: number) => number;

/**
 * Inputs from this length on go to the accelerated implementation, when one
 * is installed (the native addon is faster from about 16 bytes on).
 */
const ACCELERATED_MIN_BYTES = 16;

let accelerated: Crc32cFunction | undefined;

/**
 * Installs a faster CRC-32C for {@link crc32c} to use: the storage layer's
 * native addon (src/storage/crc32c.ts), which it checks against the
 * standard check value first. The codec and the state machine import
 * nothing from node:* (test/store/purity.test.ts), so they cannot load the
 * addon themselves; without this the store's snapshot encoder and decoder
 * checksummed every snapshot in JavaScript, about 9x slower (a member's
 * CPU profile at bench/scale: 3.5% of its busy time, during its snapshots).
 * Must give the same results as {@link crc32cPortable}.
 */
export function useAcceleratedCrc32c(implementation: Crc32cFunction | undefined): void {
  accelerated = implementation;
}

/** True while an accelerated implementation is installed. */
export function acceleratedCrc32cInstalled(): boolean {
  return accelerated !== undefined;
}

/**
 * CRC-32C of `bytes[start, end)`. `seed` is a previous result to continue
 * from (chaining), 0 for a fresh checksum. The installed accelerated
 * implementation where there is one (see {@link useAcceleratedCrc32c}),
 * else {@link crc32cPortable}.
 */
export function crc32c(bytes: Uint8Array, seed = 0, start = 0, end = bytes.length): number {
  if (accelerated !== undefined && end - start >= ACCELERATED_MIN_BYTES) {
    return accelerated(start === 0 && end === bytes.length ? bytes : bytes.subarray(start, end), seed) >>> 0;
  }
  return crc32cPortable(bytes, seed, start, end);
}

/** {@link crc32c} in JavaScript alone, whatever is installed. */
export function crc32cPortable(bytes: Uint8Array, seed = 0, start = 0, end = bytes.length): number {
  const [t0, t1, t2, t3, t4, t5, t6, t7] = TABLES as [Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array];
  let crc = ~seed >>> 0;
  let i = start;
  for (; i + 8 <= end; i += 8) {
    const low = (crc ^ (bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24))) >>> 0;
    crc =
      t7[low & 0xff]! ^ t6[(low >>> 8) & 0xff]! ^ t5[(low >>> 16) & 0xff]! ^ t4[low >>> 24]! ^
      t3[bytes[i + 4]!]! ^ t2[bytes[i + 5]!]! ^ t1[bytes[i + 6]!]! ^ t0[bytes[i + 7]!]!;
  }
  for (; i < end; i++) crc = t0[(crc ^ bytes[i]!) & 0xff]! ^ (crc >>> 8);
  return ~crc >>> 0;
}

/**
 * The CRC-32C of `a` followed by `b`, from the CRC of each and the length
 * of `b` (zlib's crc32_combine, with this polynomial): a snapshot file's
 * checksum covers its header first, and the header holds the data length,
 * which is known only once the data was streamed out.
 */
export function crc32cCombine(crcA: number, crcB: number, lengthB: number): number {
  if (lengthB <= 0) return crcA >>> 0;
  const odd = new Uint32Array(32); // the operator for one zero bit
  odd[0] = POLY;
  for (let n = 1; n < 32; n++) odd[n] = (1 << (n - 1)) >>> 0;
  const even = new Uint32Array(32);
  squareMatrix(even, odd); // two zero bits
  squareMatrix(odd, even); // four zero bits
  let crc = crcA >>> 0;
  let remaining = lengthB;
  for (;;) {
    squareMatrix(even, odd); // the first pass: one zero byte
    if (remaining % 2 === 1) crc = timesMatrix(even, crc);
    remaining = Math.floor(remaining / 2);
    if (remaining === 0) break;
    squareMatrix(odd, even);
    if (remaining % 2 === 1) crc = timesMatrix(odd, crc);
    remaining = Math.floor(remaining / 2);
    if (remaining === 0) break;
  }
  return (crc ^ crcB) >>> 0;
}

function timesMatrix(matrix: Uint32Array, vector: number): number {
  let sum = 0;
  for (let row = 0, bits = vector >>> 0; bits !== 0; row++, bits >>>= 1) if (bits & 1) sum ^= matrix[row]!;
  return sum >>> 0;
}

function squareMatrix(square: Uint32Array, matrix: Uint32Array): void {
  for (let n = 0; n < 32; n++) square[n] = timesMatrix(matrix, matrix[n]!);
}
