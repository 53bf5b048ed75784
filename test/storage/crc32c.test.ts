import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { it } from 'node:test';
import fc from 'fast-check';
import { acceleratedCrc32cInstalled, crc32c as codecCrc32c, crc32cPortable as portable } from '../../src/codec/crc32c.js';
import { crc32c, crc32cImplementation } from '../../src/storage/crc32c.js';

/** The addon's binary for this platform, if npm installed one (an optional dependency). */
function addonBinaryInstalled(): boolean {
  const require = createRequire(import.meta.url);
  const names: Record<string, string> = { 'linux-x64': '@node-rs/crc32-linux-x64-gnu', 'linux-arm64': '@node-rs/crc32-linux-arm64-gnu', 'darwin-arm64': '@node-rs/crc32-darwin-arm64', 'darwin-x64': '@node-rs/crc32-darwin-x64' };
  const name = names[`${process.platform}-${process.arch}`];
  if (name === undefined) return false;
  try {
    require.resolve(name);
    return true;
  } catch {
    return false;
  }
}

it('the storage checksum uses the native addon wherever its binary is installed (a silent fallback would cost ~9x on large records)', () => {
  if (addonBinaryInstalled()) assert.equal(crc32cImplementation, 'native');
  assert.equal(crc32c(new TextEncoder().encode('123456789')), 0xe3069283);
});

it('property: the storage checksum equals the portable one on any bytes, seed and range', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 4096 }), fc.integer({ min: 0, max: 0xffffffff }), fc.nat(), fc.nat(), (bytes, seed, a, b) => {
      const start = bytes.length === 0 ? 0 : a % (bytes.length + 1);
      const end = start + (bytes.length - start === 0 ? 0 : b % (bytes.length - start + 1));
      assert.equal(crc32c(bytes, seed, start, end), portable(bytes, seed, start, end));
      assert.equal(crc32c(bytes), portable(bytes));
    }),
    { numRuns: 500 },
  );
  const large = Uint8Array.from({ length: 3 << 20 }, (_, i) => (i * 2654435761) >>> 24);
  assert.equal(crc32c(large, 0, 17, large.length - 5), portable(large, 0, 17, large.length - 5));
});

it('KEEL_CRC32C=portable forces the JavaScript checksum (for comparing the two in a benchmark)', () => {
  const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', "import('./src/storage/crc32c.ts').then((m) => console.log(m.crc32cImplementation))"], {
    cwd: new URL('../..', import.meta.url).pathname,
    env: { ...process.env, KEEL_CRC32C: 'portable' },
    encoding: 'utf8',
  });
  assert.equal(child.stdout.trim(), 'portable', child.stderr);
});

it('property: once the storage layer is loaded, the codec checksum (the store snapshot codec) uses the same implementation and equals the portable one', () => {
  assert.equal(acceleratedCrc32cInstalled(), crc32cImplementation === 'native', 'the storage layer installs its native checksum into the codec');
  if (crc32cImplementation === 'native') {
    const large = Uint8Array.from({ length: 1 << 20 }, (_, i) => (i * 40503) >>> 8);
    assert.equal(codecCrc32c(large), portable(large));
  }
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 2048 }), fc.integer({ min: 0, max: 0xffffffff }), fc.nat(), fc.nat(), (bytes, seed, a, b) => {
      const start = bytes.length === 0 ? 0 : a % (bytes.length + 1);
      const end = start + (bytes.length - start === 0 ? 0 : b % (bytes.length - start + 1));
      assert.equal(codecCrc32c(bytes, seed, start, end), portable(bytes, seed, start, end));
    }),
    { numRuns: 500 },
  );
});
