import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileStorage } from '../../src/storage/index.js';
import { storageConformance } from './conformance.js';

storageConformance('FileStorage (16 KiB segments)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'keel-storage-'));
  return {
    open: (options) => new FileStorage(dir, { segmentSizeBytes: 16 * 1024, ...options }),
    // A process crash keeps the page cache, so closing the descriptors is all a crash does to files.
    crash: (storage) => storage.close(),
    dispose: () => rmSync(dir, { recursive: true, force: true }),
  };
});
