#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { readFileSync } from 'node:fs';

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

/**
 * Each subcommand's module, loaded on demand. Loading all of them pulls in
 * every part (grpc-js, undici, the gateway, the checker...), which costs a
 * second or more of CPU per start on a busy machine; a member, a probe or a
 * status call needs only its own. The order is the order of `keel --help`.
 */
const commands: ReadonlyArray<readonly [string, () => Promise<Command>]> = [
  ['sim', async () => (await import('./sim.js')).simCommand()],
  ['node', async () => (await import('./node.js')).nodeCommand()],
  ['up', async () => (await import('./up.js')).upCommand()],
  ['snapshot', async () => (await import('./snapshot.js')).snapshotCommand()],
  ['status', async () => (await import('./status.js')).statusCommand()],
  ['load', async () => (await import('./load.js')).loadCommand()],
  ['gateway', async () => (await import('./gateway.js')).gatewayCommand()],
  ['check', async () => (await import('./check.js')).checkCommand()],
  ['chaos', async () => (await import('./chaos.js')).chaosCommand()],
  ['dashboard', async () => (await import('./dashboard.js')).dashboardCommand()],
  ['slo', async () => (await import('./slo.js')).sloCommand()],
  ['probe', async () => (await import('./probe.js')).probeCommand()],
  ['experiment', async () => (await import('./experiment.js')).experimentCommand()],
];

const program = new Command('keel')
  .description('Keel: a raft-replicated store, an L7 gateway, a resilience library and a test bench')
  .version(version())
  .exitOverride();

// `keel <name> ...` loads only <name>; anything else (help, a typo, no
// command) loads them all, so help lists every command and a typo is answered
// as commander answers it.
const named = commands.find(([name]) => name === process.argv[2]);
for (const [, load] of named === undefined ? commands : [named]) program.addCommand(await load());

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
