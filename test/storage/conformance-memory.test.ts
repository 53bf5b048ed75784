import { MemoryDisk, MemoryRaftStorage } from '../../src/storage/index.js';
import { storageConformance } from './conformance.js';

storageConformance('MemoryRaftStorage', () => {
  const disk = new MemoryDisk();
  return {
    open: (options) => new MemoryRaftStorage(disk, options),
    crash: () => disk.crash(),
    dispose: () => undefined,
  };
});
