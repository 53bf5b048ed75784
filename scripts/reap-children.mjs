// Loaded with --import into every test file's process (run-tests.mjs): the
// processes a test file spawns die with it. Without this, a file whose test
// timed out or crashed, and that the runner then ended (--test-force-exit),
// left its members running as orphans for the rest of the suite, holding
// CPU and ports on a 2-core CI machine.
//
// Every ChildProcess goes through ChildProcess.prototype.spawn (spawn, fork,
// exec and execFile alike), so recording there sees them all. Only direct
// children are recorded, by pid: a grandchild (a member `keel up` started)
// is its parent's to stop, and tests that kill `keel up` kill what it
// recorded. Nothing is killed by name.
import { ChildProcess } from 'node:child_process';

const live = new Set();
const spawnChild = ChildProcess.prototype.spawn;
ChildProcess.prototype.spawn = function spawnRecorded(...args) {
  const result = spawnChild.apply(this, args);
  if (typeof this.pid === 'number') {
    live.add(this);
    this.once('exit', () => live.delete(this));
  }
  return result;
};

function reap() {
  for (const child of live) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    try {
      process.kill(child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  live.clear();
}

process.on('exit', reap);
// A signal that would end this process skips 'exit': reap, then die of the same signal.
for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP']) {
  process.once(signal, () => {
    reap();
    process.kill(process.pid, signal);
  });
}
