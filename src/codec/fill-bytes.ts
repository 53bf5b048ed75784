/**
 * Byte arrays that the caller fills completely before anything reads them,
 * without the zero fill. A zeroed allocation of a MiB or two (calloc, then
 * a page fault per 4 KiB page on first touch) took 0.2-2 ms here, where an
 * uninitialised one (Buffer.allocUnsafeSlow) takes tens of microseconds; a
 * 1 MiB put went through several on the leader alone (command, entry, WAL
 * batch), about 5 ms of its event loop (issue 14).
 *
 * Small arrays are zeroed as usual: V8 allocates them cheaply and the
 * saving would not pay for the call. The result is a plain Uint8Array (not
 * a Buffer, whose slice() is a view) over its own ArrayBuffer. Buffer is
 * looked up on the global, not imported, as in latin1.ts; with no Buffer
 * this is `new Uint8Array`. The contents before the caller's writes are
 * whatever the allocator held, so every caller must write every byte it
 * hands out: ByteWriter hands out only what it wrote.
 */
const allocUnsafeSlow = (globalThis as { Buffer?: { allocUnsafeSlow(size: number): Uint8Array } }).Buffer?.allocUnsafeSlow;

/** From this length on, {@link bytesToFill} skips the zero fill. */
export const UNFILLED_BYTES_MIN = 64 * 1024;

/** `length` bytes the caller overwrites entirely before reading any (see the module comment). */
export function bytesToFill(length: number): Uint8Array {
  if (length < UNFILLED_BYTES_MIN || allocUnsafeSlow === undefined) return new Uint8Array(length);
  const buffer = allocUnsafeSlow(length);
  return new Uint8Array(buffer.buffer, buffer.byteOffset, length);
}
