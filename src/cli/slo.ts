import { writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { Command, Option } from 'commander';
import { formatStatusTable, generateRules, loadSlos, ObserveError, SloEvaluator, type Evaluation } from '../observe/index.js';

/**
 * `keel slo generate FILE` (Prometheus rules from OpenSLO) and `keel slo
 * status FILE` (budgets, burn rates and alert states, from a Prometheus or
 * from /metrics). Exit codes: 0 ok; 99 (status) a page alert is firing or a
 * budget is spent; 2 a bad SLO file or option; 1 an unreachable Prometheus
 * or target, or another runtime error.
 */
export const EXIT_SLO_FAILED = 99;
export const EXIT_BAD_INPUT = 2;

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };

function durationMs(text: string, flag: string): number {
  const match = DURATION.exec(text.trim());
  const ms = match === null ? NaN : Number(match[1]) * UNIT_MS[match[2]!]!;
  if (!(ms >= 100)) throw new ObserveError('KEEL_OBSERVE_BAD_OPTION', `${flag}: '${text}' is not a duration of at least 100ms (write 1s, 15s or 1m)`);
  return ms;
}

function numberOption(text: string | undefined, flag: string): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!Number.isFinite(value)) throw new ObserveError('KEEL_OBSERVE_BAD_OPTION', `${flag}: '${text}' is not a number`);
  return value;
}

/** Runs a subcommand body, mapping errors to exit codes and one clear line on stderr. */
async function guarded(body: () => Promise<number> | number): Promise<void> {
  try {
    process.exitCode = await body();
  } catch (error) {
    if (!ObserveError.is(error)) throw error;
    console.error(`keel slo: ${error.message} (${error.code})`);
    process.exitCode = error.code === 'KEEL_OBSERVE_BAD_SLO' || error.code === 'KEEL_OBSERVE_BAD_OPTION' || error.code === 'KEEL_OBSERVE_UNSUPPORTED' ? EXIT_BAD_INPUT : 1;
  }
}

interface GenerateFlags {
  output?: string;
  timeScale?: string;
  minEvents?: string;
  evaluationInterval?: string;
}

interface StatusFlags {
  prometheus?: string;
  scrape?: string[];
  output: 'table' | 'json';
  watch?: boolean;
  interval: string;
  timeScale?: string;
  minEvents?: string;
}

export function sloCommand(): Command {
  const command = new Command('slo').description('SLOs and error budgets from OpenSLO v1 files: Prometheus rules with burn-rate alerts, and live status');
  command.command('generate')
    .description('write Sloth-compatible Prometheus recording and alerting rules (multi-window, multi-burn-rate) for the SLOs in FILE')
    .argument('<file>', 'OpenSLO v1 YAML (several documents)')
    .option('-o, --output <file>', 'write the rules here instead of stdout')
    .option('--time-scale <n>', 'divide every window by n: FOR TESTS AND DEMOS ONLY (60 turns 1h/5m into 1m/5s)')
    .option('--min-events <n>', 'low-traffic guard: no alert unless the short window saw at least n events (default 10; the keel.dev/min-events annotation wins)')
    .option('--evaluation-interval <duration>', 'set interval: on every rule group (e.g. 1s with --time-scale)')
    .action((file: string, flags: GenerateFlags) => guarded(() => {
      const slos = loadSlos(file);
      const timeScale = numberOption(flags.timeScale, '--time-scale');
      const minEvents = numberOption(flags.minEvents, '--min-events');
      const rules = generateRules(slos, {
        ...(timeScale === undefined ? {} : { timeScale }),
        ...(minEvents === undefined ? {} : { minEvents }),
        ...(flags.evaluationInterval === undefined ? {} : { evaluationIntervalSeconds: durationMs(flags.evaluationInterval, '--evaluation-interval') / 1000 }),
      });
      if (flags.output === undefined) process.stdout.write(rules);
      else writeFileSync(flags.output, rules);
      return 0;
    }));
  command.command('status')
    .description('print each SLO\'s remaining budget, burn rates (5m ... 3d) and page/ticket alert state; exit 99 when a page fires or a budget is spent')
    .argument('<file>', 'OpenSLO v1 YAML (several documents)')
    .option('--prometheus <url>', 'query this Prometheus (instant queries of the SLI expressions)')
    .option('--scrape <url...>', 'scrape these /metrics URLs instead (windows cover only what this run has seen)')
    .addOption(new Option('-w, --output <format>', 'output format').choices(['table', 'json']).default('table'))
    .option('--watch', 'keep printing every --interval until interrupted')
    .option('--interval <duration>', 'time between scrapes or evaluations', '5s')
    .option('--time-scale <n>', 'as in generate: FOR TESTS AND DEMOS ONLY')
    .option('--min-events <n>', 'low-traffic guard default (as in generate)')
    .action((file: string, flags: StatusFlags) => guarded(() => runStatus(file, flags)));
  return command;
}

async function runStatus(file: string, flags: StatusFlags): Promise<number> {
  const slos = loadSlos(file);
  const intervalMs = durationMs(flags.interval, '--interval');
  const timeScale = numberOption(flags.timeScale, '--time-scale');
  const minEvents = numberOption(flags.minEvents, '--min-events');
  if ((flags.prometheus === undefined) === (flags.scrape === undefined)) throw new ObserveError('KEEL_OBSERVE_BAD_OPTION', 'give either --prometheus URL or --scrape URL...');
  const evaluator = new SloEvaluator(slos, {
    ...(flags.prometheus === undefined ? { scrapeUrls: flags.scrape! } : { prometheusUrl: flags.prometheus }),
    ...(timeScale === undefined ? {} : { timeScale }),
    ...(minEvents === undefined ? {} : { minEvents }),
  });
  const print = (evaluation: Evaluation): void => {
    console.log(flags.output === 'json' ? JSON.stringify(evaluation) : `${formatStatusTable(evaluation)}\n`);
  };
  const scraping = flags.scrape !== undefined;
  // An unreachable URL on the first look is a mistake to report at once; later a target may come and go.
  if (scraping) {
    await evaluator.scrape(true);
    await sleep(intervalMs);
    await evaluator.scrape();
  }
  let stop = false;
  const interrupt = (): void => {
    stop = true;
  };
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);
  try {
    let evaluation = await evaluator.evaluate();
    print(evaluation);
    while (flags.watch === true && !stop) {
      await sleep(intervalMs);
      if (stop) break;
      if (scraping) for (const failure of await evaluator.scrape()) console.error(`keel slo: ${failure.message}`);
      evaluation = await evaluator.evaluate();
      print(evaluation);
    }
    return evaluation.slos.some((slo) => slo.pageFiring || (slo.budgetRemaining !== null && slo.budgetRemaining <= 0)) ? EXIT_SLO_FAILED : 0;
  } finally {
    process.off('SIGINT', interrupt);
    process.off('SIGTERM', interrupt);
  }
}
