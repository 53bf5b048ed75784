import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { EXIT_BAD_INPUT, etcdControlCluster, ExperimentError, parseExperiment, runExperiment, type ClusterSpec, type Experiment } from '../experiment/index.js';

/**
 * `keel experiment run FILE`: one experiment (Chaos Toolkit's format with
 * keel's load, faults, history, stop-conditions and seed). Exit codes:
 * 0 completed and linearizable, 1 failed or deviated, 2 bad input,
 * 3 aborted by a stop condition, 4 not linearizable, 130 interrupted.
 * SIGINT (or SIGTERM) interrupts: the run still heals and rolls back.
 */
export function experimentCommand(): Command {
  const command = new Command('experiment').description('run an experiment file: load, seeded faults, a recorded history, probes and stop conditions, one verdict (docs/experiments.md)');
  command
    .command('run')
    .argument('<file>', 'the experiment (YAML or JSON)')
    .option('--output <dir>', 'where journal.json, history.jsonl and report.html go', './experiment-output')
    .option('--seed <n>', "overrides the file's seed", (value) => {
      const seed = Number(value);
      if (!Number.isInteger(seed) || seed < 0 || seed >= 2 ** 31) throw new ExperimentError('KEEL_EXPERIMENT_BAD_INPUT', `--seed: an integer in [0, 2^31); got ${value}`);
      return seed;
    })
    .option('--data-dir <dir>', "run on this keel up cluster instead of the file's")
    .option('--cluster <kind>', "run on a fresh cluster of this kind instead of the file's: keel, or etcd (a control run on etcd 3.4 with the file's member count; in network namespaces, root, when the file's cluster has netns: true or it asks for network faults)", (value) => {
      if (value !== 'keel' && value !== 'etcd') throw new ExperimentError('KEEL_EXPERIMENT_BAD_INPUT', `--cluster: keel or etcd; got ${value}`);
      return value;
    })
    .option('--validate', 'check the file and exit (0 valid, 2 not)')
    .option('--quiet', 'print only the verdict')
    .action(async (file: string, options: { output: string; seed?: number; dataDir?: string; cluster?: 'keel' | 'etcd'; validate?: boolean; quiet?: boolean }) => {
      let experiment;
      try {
        let text: string;
        try {
          text = readFileSync(file, 'utf8');
        } catch (error) {
          throw new ExperimentError('KEEL_EXPERIMENT_BAD_INPUT', `${file}: cannot read it (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
        }
        experiment = parseExperiment(text, file);
      } catch (error) {
        if (!ExperimentError.is(error)) throw error;
        console.error(`keel experiment: ${error.message}`);
        process.exitCode = EXIT_BAD_INPUT;
        return;
      }
      if (options.validate) {
        console.log(`${file}: valid ("${experiment.title}")`);
        return;
      }
      const interrupt = new AbortController();
      const onSignal = (): void => {
        console.error('keel experiment: interrupted; healing and rolling back');
        interrupt.abort();
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      try {
        const outcome = await runExperiment(experiment, {
          file,
          outputDir: options.output,
          ...(options.seed !== undefined ? { seed: options.seed } : {}),
          ...(options.dataDir !== undefined ? { dataDir: options.dataDir } : {}),
          ...(options.cluster !== undefined ? { cluster: clusterOf(options.cluster, experiment) } : {}),
          signal: interrupt.signal,
          log: options.quiet ? () => {} : (line) => console.error(`keel experiment: ${line}`),
        });
        // With variants, each has its own report; the top-level journal.json lists them side by side.
        const report = 'variants' in outcome.journal.keel ? 'journal.json (a report.html per variant)' : 'report.html';
        console.log(`${outcome.verdict.status}${outcome.verdict.deviated ? ' (deviated)' : ''}: ${outcome.verdict.reason} (exit ${outcome.verdict.exitCode}); ${outcome.outputDir}/${report}`);
        process.exitCode = outcome.verdict.exitCode;
      } catch (error) {
        if (!ExperimentError.is(error)) throw error;
        console.error(`keel experiment: ${error.code}: ${error.message}`);
        process.exitCode = error.code === 'KEEL_EXPERIMENT_BAD_INPUT' ? EXIT_BAD_INPUT : 1;
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    });
  return command;
}

/** `--cluster KIND`: a fresh cluster of that kind with the file's member count (etcd: etcdControlCluster). */
export function clusterOf(kind: 'keel' | 'etcd', experiment: Experiment): ClusterSpec {
  if (kind === 'etcd') return etcdControlCluster(experiment);
  const fileSpec = experiment.configuration.cluster;
  const members = 'members' in fileSpec ? fileSpec.members : 3;
  return 'kind' in fileSpec && fileSpec.kind === 'keel' ? fileSpec : { members, gateway: true, netns: false, failpoints: false };
}
