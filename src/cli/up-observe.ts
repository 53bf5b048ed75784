import { Command, InvalidArgumentError, Option } from 'commander';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  collectScrapeTarget, findObserveBinaries, KEEL_ALERTS_FILE, ObserveStack, ObserveStackError, parsePromDuration, parseWebhookUrl, shippedFile,
  type AlertTiming, type MemberTarget, type ObserveBinaries, type PromDuration, type RuleFile, type ScrapeTarget,
} from '../observe/stack/index.js';
import { generateRules, loadSlos } from '../observe/index.js';
import type { PlannedPort } from './port-check.js';

/**
 * `keel up --observe`: the options, their checks before anything starts,
 * and the stack's start beside the members. The stack itself lives in
 * src/observe/stack; this is only keel up's side of it.
 */
export interface ObserveFlags {
  observe?: boolean;
  observeTarget: ScrapeTarget[];
  slo?: string;
  sloTimeScale: number;
  alertWebhook?: string;
  prometheusPort: number;
  alertmanagerPort: number;
  alertReceiverPort: number;
  scrapeInterval: PromDuration;
  evaluationInterval: PromDuration;
  alertGroupWait: PromDuration;
  alertGroupInterval: PromDuration;
  alertRepeatInterval: PromDuration;
  alertResolveTimeout: PromDuration;
}

/** Turns an observe parse error into commander's, so it prints as a usage error naming the option. */
function commanderParser<T>(parse: (value: string, previous: T) => T): (value: string, previous: T) => T {
  return (value, previous) => {
    try {
      return parse(value, previous);
    } catch (error) {
      throw new InvalidArgumentError((error as Error).message);
    }
  };
}

function duration(flag: string, fallback: string): Option {
  return new Option(`${flag} <duration>`, '').default(parsePromDuration(flag, fallback), fallback).argParser(commanderParser((value: string) => parsePromDuration(flag, value)));
}

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1024 || n > 65_534) throw new InvalidArgumentError('must be an integer port in [1024, 65534]');
  return n;
}

/** Adds --observe and its options to `keel up`. */
export function addObserveOptions(command: Command): Command {
  const described = (option: Option, description: string): Option => {
    option.description = description;
    return option;
  };
  return command
    .option('--observe', 'also run Prometheus (scraping every member, the gateway and --observe-target) and Alertmanager, with keel\'s alerts and SLO rules')
    .option('--observe-target <[job=]host:port>', 'with --observe: another /metrics to scrape (e.g. keel load --metrics-port); repeatable', commanderParser(collectScrapeTarget), [] as ScrapeTarget[])
    .option('--slo <file>', 'with --observe: OpenSLO file whose rules Prometheus evaluates (default: the shipped examples/slo/keel.yaml)')
    .option('--slo-time-scale <n>', 'with --observe: divide every SLO window by n (tests and demos only)', positiveNumber, 1)
    .option('--alert-webhook <url>', 'with --observe: where Alertmanager posts notifications (default: the built-in receiver, which appends them to <data-dir>/observe/alerts.jsonl)', commanderParser(parseWebhookUrl))
    .option('--prometheus-port <port>', 'with --observe: Prometheus\'s port', port, 9090)
    .option('--alertmanager-port <port>', 'with --observe: Alertmanager\'s port', port, 9093)
    .option('--alert-receiver-port <port>', 'with --observe and no --alert-webhook: the built-in receiver\'s port', port, 9095)
    .addOption(described(duration('--scrape-interval', '15s'), 'with --observe: how often Prometheus scrapes'))
    .addOption(described(duration('--evaluation-interval', '15s'), 'with --observe: how often Prometheus evaluates rules'))
    .addOption(described(duration('--alert-group-wait', '30s'), 'with --observe: Alertmanager\'s group_wait'))
    .addOption(described(duration('--alert-group-interval', '5m'), 'with --observe: Alertmanager\'s group_interval'))
    .addOption(described(duration('--alert-repeat-interval', '4h'), 'with --observe: Alertmanager\'s repeat_interval'))
    .addOption(described(duration('--alert-resolve-timeout', '5m'), 'with --observe: Alertmanager\'s resolve_timeout'));
}

function positiveNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('must be a number above 0');
  return n;
}

/** What --observe needs, found and checked before anything starts. */
export interface ObservePlan {
  readonly binaries: ObserveBinaries;
  readonly ruleFiles: readonly RuleFile[];
}

/** The default SLO file: keel's own API (shipped with keel). */
export const DEFAULT_SLO_FILE = 'examples/slo/keel.yaml';

/**
 * Finds the binaries and builds the rule files (keel's alerts and the SLO
 * file's rules); throws an error naming what is missing or wrong.
 */
export function planObserve(flags: ObserveFlags): ObservePlan {
  const binaries = findObserveBinaries();
  const alertsPath = shippedFile(KEEL_ALERTS_FILE);
  if (!alertsPath) throw new ObserveStackError('KEEL_OBSERVE_STACK_BAD_INPUT', `${KEEL_ALERTS_FILE} is not in this installation of keel`);
  const sloPath = flags.slo ?? shippedFile(DEFAULT_SLO_FILE);
  if (!sloPath) throw new ObserveStackError('KEEL_OBSERVE_STACK_BAD_INPUT', `--slo: no file given and ${DEFAULT_SLO_FILE} is not in this installation of keel`);
  return {
    binaries,
    ruleFiles: [
      { name: 'keel-alerts.yaml', text: readFileSync(alertsPath, 'utf8') },
      { name: 'slo.yaml', text: sloRules(sloPath, flags.sloTimeScale) },
    ],
  };
}

/** The SLO file's Prometheus rules (recording rules and burn-rate alerts); its errors name the file, document and field. */
function sloRules(path: string, timeScale: number): string {
  try {
    return generateRules(loadSlos(path), { timeScale });
  } catch (error) {
    throw new ObserveStackError('KEEL_OBSERVE_STACK_BAD_INPUT', `--slo: ${(error as Error).message}`);
  }
}

/** Options that mean nothing without --observe: naming one alone is a mistake worth saying. */
export function observeOptionsWithoutObserve(flags: ObserveFlags): string[] {
  if (flags.observe) return [];
  return [
    ...(flags.slo !== undefined ? ['--slo'] : []),
    ...(flags.alertWebhook !== undefined ? ['--alert-webhook'] : []),
    ...(flags.observeTarget.length > 0 ? ['--observe-target'] : []),
  ];
}

/** The ports --observe binds, for keel up's check before start. */
export function observePorts(flags: ObserveFlags): PlannedPort[] {
  const host = '127.0.0.1';
  return [
    { port: flags.prometheusPort, host, purpose: 'prometheus' },
    { port: flags.alertmanagerPort, host, purpose: 'alertmanager' },
    ...(flags.alertWebhook ? [] : [{ port: flags.alertReceiverPort, host, purpose: 'alert receiver' }]),
  ];
}

/** Starts the stack under `<dataDir>/observe` for these members and gateway. */
export function startObserve(options: {
  flags: ObserveFlags;
  plan: ObservePlan;
  dataDir: string;
  members: readonly MemberTarget[];
  gatewayAdmin: string | undefined;
  log: (line: string) => void;
  onChange: () => void;
  signal: AbortSignal;
}): Promise<ObserveStack> {
  const { flags, plan } = options;
  const timing: AlertTiming = {
    groupWait: flags.alertGroupWait, groupInterval: flags.alertGroupInterval, repeatInterval: flags.alertRepeatInterval, resolveTimeout: flags.alertResolveTimeout,
  };
  return ObserveStack.start({
    dir: join(options.dataDir, 'observe'),
    binaries: plan.binaries,
    prometheusPort: flags.prometheusPort,
    alertmanagerPort: flags.alertmanagerPort,
    receiverPort: flags.alertReceiverPort,
    ...(flags.alertWebhook ? { webhookUrl: flags.alertWebhook } : {}),
    members: options.members,
    ...(options.gatewayAdmin ? { gatewayAdmin: options.gatewayAdmin } : {}),
    extraTargets: flags.observeTarget,
    scrapeInterval: flags.scrapeInterval,
    evaluationInterval: flags.evaluationInterval,
    timing,
    ruleFiles: plan.ruleFiles,
    log: options.log,
    onChange: options.onChange,
  }, options.signal);
}
