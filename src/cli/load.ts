/**
 * `keel load <scenario>`: runs a load test (docs/load.md). Exit codes: 0 all
 * thresholds passed, 99 one failed, 2 bad input (scenario, options, flags),
 * 1 a runtime error (a worker lost, a port taken).
 */
import { Command, InvalidArgumentError } from 'commander';
import { EXIT_BAD_INPUT, EXIT_RUNTIME_ERROR, isLoadError, LoadError, runLoad } from '../load/index.js';

function positiveInteger(name: string, min = 1): (value: string) => number {
  return (value) => {
    const parsed = Number(value);
    if (!Number.isInteger(parsed) || parsed < min) throw new InvalidArgumentError(`${name} must be an integer ≥ ${min}`);
    return parsed;
  };
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

export function loadCommand(): Command {
  const command = new Command('load')
    .description('run a load test: a scenario module (.ts/.js, k6 shape) or a YAML file (docs/load.md)')
    .argument('<scenario>', 'scenario file')
    .option('--vus <n>', 'override: this many VUs (constant-vus with --duration, shared-iterations with --iterations)', positiveInteger('--vus'))
    .option('--duration <d>', 'override: run this long (30s, 5m)')
    .option('--iterations <n>', 'override: this many iterations shared by the VUs', positiveInteger('--iterations'))
    .option('--workers <n>', 'worker processes (default: one per core; 0 runs in this process)', positiveInteger('--workers', 0))
    .option('--agents <list>', 'run on agents (host:port,host:port) instead of local workers')
    .option('--allow-remote <hosts>', 'targets outside loopback this run may load (host or host:port, comma-separated)', (value, previous: string[]) => [...previous, ...value.split(',')], [] as string[])
    .option('--summary-export <file>', 'write the end-of-test summary as JSON')
    .option('--out <kind=file>', 'ndjson=FILE (time series) or html=FILE (report); repeatable', collect, [] as string[])
    .option('--metrics-port <port>', 'serve live metrics for Prometheus on 127.0.0.1:<port>/metrics', positiveInteger('--metrics-port'))
    .option('--quiet', 'no live progress line')
    .action(async (scenarioFile: string, flags: { vus?: number; duration?: string; iterations?: number; workers?: number; agents?: string; allowRemote: string[]; summaryExport?: string; out: string[]; metricsPort?: number; quiet?: boolean }) => {
      const stop = new AbortController();
      let interrupts = 0;
      const onSigint = (): void => {
        interrupts++;
        if (interrupts === 1) {
          process.stderr.write('\nstopping (Ctrl-C again to quit at once)...\n');
          stop.abort();
        } else process.exit(130);
      };
      process.on('SIGINT', onSigint);
      try {
        const outputs = parseOuts(flags.out);
        let links;
        if (flags.agents !== undefined) {
          const { agentLinks } = await import('../load/agent.js');
          links = await agentLinks(flags.agents.split(',').map((entry) => entry.trim()).filter(Boolean));
        }
        const result = await runLoad({
          scenarioFile,
          workers: flags.workers,
          links,
          allowRemote: flags.allowRemote,
          overrides: { vus: flags.vus, duration: flags.duration, iterations: flags.iterations },
          summaryExport: flags.summaryExport,
          ndjson: outputs.ndjson,
          html: outputs.html,
          metricsPort: flags.metricsPort,
          progress: flags.quiet !== true,
          signal: stop.signal,
        });
        process.exitCode = result.exitCode;
      } catch (error) {
        const bad = isLoadError(error) && error.code === 'KEEL_LOAD_BAD_INPUT';
        process.stderr.write(`keel load: ${(error as Error).message}\n`);
        process.exitCode = bad ? EXIT_BAD_INPUT : EXIT_RUNTIME_ERROR;
      } finally {
        process.off('SIGINT', onSigint);
      }
    });
  command.addCommand(
    new Command('agent')
      .description('serve coordinators (keel load --agents host:port,...) from this machine')
      .requiredOption('--listen <host:port>', 'address to listen on (use a private address; the protocol has no authentication)')
      .action(async (flags: { listen: string }) => {
        const { startAgent } = await import('../load/agent.js');
        try {
          const server = await startAgent(flags.listen, (line) => process.stderr.write(`${line}\n`));
          await new Promise<void>((resolve) => process.once('SIGINT', resolve).once('SIGTERM', resolve));
          server.close();
        } catch (error) {
          process.stderr.write(`keel load agent: ${(error as Error).message}\n`);
          process.exitCode = isLoadError(error) && error.code === 'KEEL_LOAD_BAD_INPUT' ? EXIT_BAD_INPUT : EXIT_RUNTIME_ERROR;
        }
      }),
  );
  return command;
}

function parseOuts(outs: readonly string[]): { ndjson?: string; html?: string } {
  const result: { ndjson?: string; html?: string } = {};
  for (const out of outs) {
    const match = /^(ndjson|html)=(.+)$/.exec(out);
    if (match === null) throw new LoadError('KEEL_LOAD_BAD_INPUT', `--out ${out}: write ndjson=FILE or html=FILE`);
    result[match[1] as 'ndjson' | 'html'] = match[2]!;
  }
  return result;
}
