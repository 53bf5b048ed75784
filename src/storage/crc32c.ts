import { createRequire } from 'node:module';
import { useAcceleratedCrc32c } from '../codec/crc32c.js';

/**
 * CRC-32C for the files on disk (WAL records, snapshot files): the native
 * `@node-rs/crc32` addon where it loads, the portable JavaScript one
 * (src/codec/crc32c.ts) otherwise. Same function, same results; the addon
 * is about 9x faster on large inputs (1.3 ms against 0.14 ms per MiB here)
 * and faster from 16 bytes on. A member at scale spent 4% of its CPU (8% of
 * its busy time) in the JavaScript checksum, and a restarting one 9%
 * (`--cpu-prof`, bench:scale at a 256 MiB quota).
 *
 * The state machine and its codec import nothing from node:*
 * (test/store/purity.test.ts), so the loader lives here, and installs the
 * addon into the codec's `crc32c` as well (`useAcceleratedCrc32c`): the
 * store's snapshot encoder and decoder checksum the whole state with it.
 */
type Crc32c = (bytes: Uint8Array, seed?: number) => number;

/** The check value of "123456789" in CRC-32C: an addon that does not give it is not used. */
const CHECK_INPUT = new Uint8Array([0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39]);
const CHECK_VALUE = 0xe3069283;

function loadNative(): Crc32c | undefined {
  if (process.env.KEEL_CRC32C === 'portable') return undefined;
  try {
    const addon = createRequire(import.meta.url)('@node-rs/crc32') as { crc32c?: Crc32c };
    const native = addon.crc32c;
    if (typeof native !== 'function' || native(CHECK_INPUT) >>> 0 !== CHECK_VALUE) return undefined;
    return native;
  } catch {
    // No prebuilt binary for this platform (or the optional dependency was not installed): the portable one serves.
    return undefined;
  }
}

const native = loadNative();
useAcceleratedCrc32c(native);

/** Which implementation this process checksums with: 'native' or 'portable' (KEEL_CRC32C=portable forces the latter). */
export const crc32cImplementation: 'native' | 'portable' = native === undefined ? 'portable' : 'native';

/** CRC-32C of `bytes[start, end)` (`seed`: a previous result to continue from): the codec's, with the addon installed above. */
export { crc32c, crc32cCombine } from '../codec/crc32c.js';
