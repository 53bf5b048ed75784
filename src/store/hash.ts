import { crc32c } from '../codec/index.js';
import type { ByteString } from './bytes.js';
import type { KvRecord } from './record.js';

/** CRC-32C (Castagnoli), the checksum etcd's HashKV uses. */
const TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** An incremental CRC-32C over bytes, byte strings and integers. */
export class Crc32c {
  #crc = 0xffffffff;

  get value(): number {
    return (this.#crc ^ 0xffffffff) >>> 0;
  }

  byte(value: number): void {
    this.#crc = TABLE[(this.#crc ^ value) & 0xff]! ^ (this.#crc >>> 8);
  }

  bytes(value: Uint8Array): void {
    // The same CRC as the storage layer's, sliced by 8: a snapshot checksums the whole state, byte by byte was its hot spot.
    this.#crc = (crc32c(value, this.value) ^ 0xffffffff) >>> 0;
  }

  byteString(value: ByteString): void {
    this.integer(value.length);
    let crc = this.#crc;
    for (let i = 0; i < value.length; i++) crc = TABLE[(crc ^ value.charCodeAt(i)) & 0xff]! ^ (crc >>> 8);
    this.#crc = crc;
  }

  /** A safe integer as 8 bytes, little-endian. */
  integer(value: number): void {
    let rest = value;
    for (let i = 0; i < 8; i++) {
      this.byte(rest % 256);
      rest = Math.floor(rest / 256);
    }
  }

  bigint(value: bigint): void {
    let rest = BigInt.asUintN(64, value);
    for (let i = 0; i < 8; i++) {
      this.byte(Number(rest & 0xffn));
      rest >>= 8n;
    }
  }
}

export interface KvHash {
  hash: number;
  /** The revision the hash covers up to. */
  revision: number;
  compactRevision: number;
}

/**
 * A HashKV-like digest: CRC-32C over the compacted revision and every
 * retained record with main <= revision, in revision order. Members that
 * applied the same commands agree; it covers the kv data only (no leases,
 * no applied index), as etcd's HashKV.
 */
export function hashRecords(log: readonly KvRecord[], revision: number, compactRevision: number): KvHash {
  const crc = new Crc32c();
  crc.integer(compactRevision);
  for (const record of log) {
    if (record.main > revision) break;
    crc.integer(record.main);
    crc.integer(record.sub);
    crc.byteString(record.key);
    crc.integer(record.version);
    crc.integer(record.createRevision);
    crc.bigint(record.lease);
    crc.byteString(record.value);
  }
  return { hash: crc.value, revision, compactRevision };
}
