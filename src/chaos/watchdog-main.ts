/** Entry of the watchdog process (started by ensureWatchdog): `node watchdog-main.js <state dir>`. */
import { runWatchdog } from './watchdog.js';

const stateDir = process.argv[2];
if (stateDir === undefined) {
  process.stderr.write('usage: watchdog-main <state dir>\n');
  process.exitCode = 1;
} else {
  await runWatchdog(stateDir);
}
