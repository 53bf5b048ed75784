#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { readFileSync } from 'node:fs';
import { nodeCommand } from './node.js';
import { simCommand } from './sim.js';
import { upCommand } from './up.js';
import { snapshotCommand } from './snapshot.js';
import { statusCommand } from './status.js';
import { loadCommand } from './load.js';

/** The `keel` command: thin over the parts. Exit codes: 0 ok, 1 usage/runtime error, 2 a snapshot file failed its integrity check (keel probe: a bad checks file), 99 SLO or probe checks failed, 127-129 simulator. */
function version(): string {
  for (const path of ['../../package.json', '../../../package.json']) {
    try {
      return (JSON.parse(readFileSync(new URL(path, import.meta.url), 'utf8')) as { version: string }).version;
    } catch {
      // try the next layout (source tree or dist/)
    }
  }
  return 'unknown';
}

const program = new Command('keel')
  .description('Keel: a raft-replicated store, an L7 gateway, a resilience library and a test bench')
  .version(version())
  .exitOverride()
  .addCommand(simCommand())
  .addCommand(nodeCommand())
  .addCommand(upCommand())
  .addCommand(snapshotCommand())
  .addCommand(statusCommand())
  .addCommand(loadCommand());
program.addCommand((await import('./gateway.js')).gatewayCommand());
program.addCommand((await import('./check.js')).checkCommand());
program.addCommand((await import('./chaos.js')).chaosCommand());
program.addCommand((await import('./dashboard.js')).dashboardCommand());
program.addCommand((await import('./slo.js')).sloCommand());
program.addCommand((await import('./probe.js')).probeCommand());
program.addCommand((await import('./experiment.js')).experimentCommand());

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    process.exitCode = error.exitCode === 0 ? 0 : 1;
  } else {
    console.error(`keel: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  }
}
