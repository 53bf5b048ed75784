import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Journal } from './journal.js';
import type { Experiment, Variant } from './schema.js';
import { EXIT_COMPLETED, EXIT_DEVIATED, EXIT_INTERRUPTED, EXIT_NOT_LINEARIZABLE, type VerdictResult } from './verdict.js';

/**
 * The extension `variants`: the experiment run once per variant, one after
 * the other, each on a fresh cluster in OUTPUT/<variant>/ (its own
 * journal.json, report.html, history). The run's verdict says whether every
 * variant ended as the file expects ("without retry budgets: failed; with:
 * completed"), and OUTPUT/journal.json lists them side by side.
 */

export interface VariantOutcome {
  readonly variant: Variant;
  readonly journal: Journal;
  readonly verdict: VerdictResult;
}

/** Pure: the verdict over the variants' verdicts. */
export function decideVariantsVerdict(outcomes: readonly { readonly name: string; readonly expect: string; readonly verdict: VerdictResult }[], interrupted: boolean): VerdictResult {
  const describe = ({ name, expect, verdict }: (typeof outcomes)[number]): string => `${name}: ${verdict.status} (${verdict.reason}; expected ${expect})`;
  if (interrupted || outcomes.some(({ verdict }) => verdict.status === 'interrupted')) return { status: 'interrupted', deviated: false, exitCode: EXIT_INTERRUPTED, reason: 'interrupted (SIGINT or SIGTERM)' };
  const violation = outcomes.find(({ verdict }) => verdict.exitCode === EXIT_NOT_LINEARIZABLE);
  if (violation !== undefined) return { status: 'failed', deviated: true, exitCode: EXIT_NOT_LINEARIZABLE, reason: describe(violation) };
  const unexpected = outcomes.filter(({ expect, verdict }) => verdict.status !== expect);
  if (unexpected.length > 0) return { status: 'failed', deviated: true, exitCode: EXIT_DEVIATED, reason: `not as expected: ${unexpected.map(describe).join('; ')}` };
  return { status: 'completed', deviated: false, exitCode: EXIT_COMPLETED, reason: `every variant ended as expected: ${outcomes.map(describe).join('; ')}` };
}

/** A variant's row in OUTPUT/journal.json: its verdict and the figures that tell the variants apart. */
function variantEntry({ variant, journal, verdict }: VariantOutcome) {
  return {
    name: variant.name,
    description: variant.description ?? null,
    expect: variant.expect,
    as_expected: verdict.status === variant.expect,
    status: verdict.status,
    deviated: verdict.deviated,
    exit_code: verdict.exitCode,
    reason: verdict.reason,
    duration: journal.duration,
    load: journal.keel.load,
    probes: journal.run.filter((entry) => entry.activity.type === 'probe').map((entry) => ({ name: entry.activity.name, output: entry.output, tolerance_met: entry.tolerance_met ?? null })),
    mttr_ms: journal.keel.postmortem.mttr_ms,
    journal: `${variant.name}/journal.json`,
    report: `${variant.name}/report.html`,
  };
}

export function buildVariantsJournal(experiment: Experiment, outcomes: readonly VariantOutcome[], verdict: VerdictResult, startedAt: number, endedAt: number) {
  return {
    'chaoslib-version': null,
    experiment: { title: experiment.title, description: experiment.description ?? null, tags: experiment.tags },
    start: new Date(startedAt).toISOString(),
    end: new Date(endedAt).toISOString(),
    duration: (endedAt - startedAt) / 1_000,
    status: verdict.status,
    deviated: verdict.deviated,
    keel: { exit_code: verdict.exitCode, reason: verdict.reason, variants: outcomes.map(variantEntry) },
  };
}
export type VariantsJournal = ReturnType<typeof buildVariantsJournal>;

export async function runVariants(
  experiment: Experiment,
  variants: readonly Variant[],
  outputDir: string,
  runOne: (variant: Variant, outputDir: string) => Promise<{ journal: Journal; verdict: VerdictResult }>,
  options: { readonly signal?: AbortSignal | undefined; readonly log: (line: string) => void },
): Promise<{ journal: VariantsJournal; verdict: VerdictResult }> {
  const startedAt = Date.now();
  const outcomes: VariantOutcome[] = [];
  for (const variant of variants) {
    if (options.signal?.aborted) break;
    options.log(`variant ${variant.name} (expected ${variant.expect})`);
    const { journal, verdict } = await runOne(variant, join(outputDir, variant.name));
    outcomes.push({ variant, journal, verdict });
    options.log(`variant ${variant.name}: ${verdict.status}: ${verdict.reason}${verdict.status === variant.expect ? ' (as expected)' : ` (expected ${variant.expect})`}`);
  }
  const verdict = decideVariantsVerdict(outcomes.map(({ variant, verdict: one }) => ({ name: variant.name, expect: variant.expect, verdict: one })), options.signal?.aborted === true);
  const journal = buildVariantsJournal(experiment, outcomes, verdict, startedAt, Date.now());
  writeFileSync(join(outputDir, 'journal.json'), `${JSON.stringify(journal, null, 2)}\n`);
  options.log(`${verdict.status}${verdict.deviated ? ' (deviated)' : ''}: ${verdict.reason}; exit ${verdict.exitCode}`);
  return { journal, verdict };
}
