/**
 * Keel's one byte reader and writer and its CRC-32C, shared by the formats on disk and on the
 * log: the WAL and snapshot files (src/storage) and store commands and
 * snapshots (src/store). Pure: no node:* imports, so the store's state
 * machine may use it.
 */
export { ByteReader, ByteWriter } from './bytes.js';
export { DecodeError, EncodeError } from './errors.js';
export { crc32c, crc32cCombine, crc32cPortable, type Crc32cFunction, useAcceleratedCrc32c } from './crc32c.js';
export { latin1FromBytes, latin1IntoBytes } from './latin1.js';
export { bytesToFill } from './fill-bytes.js';
