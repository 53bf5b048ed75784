import { writeFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { CheckError } from '../check/errors.js';
import { HISTORY_FORMATS, type HistoryFormat, readHistoryFile } from '../check/formats/index.js';
import { describeOperation, type History, type Operation } from '../check/history.js';
import { checkHistory, type CheckResult, TIME_LIMIT_MS_DEFAULT } from '../check/linearizable.js';
import { MODEL_NAMES, type ModelName } from '../check/models/index.js';
import { checkRevisions, type RevisionsResult } from '../check/revisions.js';
import { renderTimeline, type TimelineSection } from '../check/timeline.js';

/**
 * `keel check FILE...`: is each recorded history linearizable?
 *
 * Exit codes: 0 every history is linearizable; 99 some history is not;
 * 3 undecided within the time limit (unknown, never reported as ok);
 * 2 a history file could not be read (malformed line, wrong model);
 * 1 usage or runtime error. With several files the worst wins, in the
 * order 99, 2, 3, 0.
 */
export const EXIT_NOT_LINEARIZABLE = 99;
export const EXIT_BAD_INPUT = 2;
export const EXIT_UNKNOWN = 3;
/** Undecided keys listed in the text output (all are in --json). */
const UNDECIDED_SHOWN_MAX = 10;

interface CheckFlags {
  format: HistoryFormat | 'auto';
  model: ModelName | 'auto';
  timeLimitMs: string;
  json?: boolean;
  html?: string;
}

export function checkCommand(): Command {
  return new Command('check')
    .description('check recorded histories for linearizability (register, cas-register, kv or mutex model), and etcd\'s revision rules when the history carries revisions; exit 0 linearizable, 99 not, 3 unknown, 2 bad input')
    .argument('<files...>', 'history files: keel JSONL, Jepsen log lines or EDN maps')
    .addOption(new Option('--format <format>', 'history format').choices([...HISTORY_FORMATS, 'auto']).default('auto'))
    .addOption(new Option('--model <model>', 'model to check against (auto: mutex if acquire/release, kv if get/put/append, cas-register if cas, else register)').choices([...MODEL_NAMES, 'auto']).default('auto'))
    .option('--time-limit-ms <n>', 'time budget per file; when it runs out the verdict is unknown', String(TIME_LIMIT_MS_DEFAULT))
    .option('--json', 'print one JSON object per file instead of text')
    .option('--html <file>', 'write a self-contained HTML timeline of the counterexamples')
    .action((files: string[], flags: CheckFlags) => {
      process.exitCode = runCheck(files, flags);
    });
}

function runCheck(files: readonly string[], flags: CheckFlags): number {
  const timeLimitMs = Number(flags.timeLimitMs);
  if (!(Number.isFinite(timeLimitMs) && timeLimitMs > 0)) {
    console.error('keel check: --time-limit-ms must be a positive number');
    return 1;
  }
  const codes: number[] = [];
  const sections: TimelineSection[] = [];
  for (const file of files) {
    let result: CheckResult;
    let revisions: RevisionsResult;
    let operations: readonly Operation[];
    let faults: History['faults'];
    try {
      const history = readHistoryFile(file, flags.format);
      operations = history.operations;
      faults = history.faults;
      result = checkHistory(history, { timeLimitMs, ...(flags.model === 'auto' ? {} : { model: flags.model }) });
      // etcd's revisioned rules, whenever the history carries revisions or watch streams (keel's recorder writes them).
      revisions = checkRevisions(history);
    } catch (error) {
      if (CheckError.is(error)) {
        if (flags.json === true) console.log(JSON.stringify({ source: file, error: { code: error.code, message: error.message } }));
        else console.error(`keel check: ${error.message} (${error.code})`);
        codes.push(EXIT_BAD_INPUT);
        continue;
      }
      if (error instanceof Error && 'code' in error && typeof error.code === 'string' && error.code.startsWith('E')) {
        console.error(`keel check: ${file}: ${error.message}`);
        return 1;
      }
      throw error;
    }
    sections.push({ result, operations, faults, revisions });
    console.log(flags.json === true ? JSON.stringify({ ...(toJson(result) as object), revisions: revisionsJson(revisions) }) : `${describe(result)}${describeRevisions(revisions)}`);
    const violated = result.verdict === 'violation' || revisions.verdict === 'violation';
    codes.push(violated ? EXIT_NOT_LINEARIZABLE : result.verdict === 'ok' ? 0 : EXIT_UNKNOWN);
  }
  if (flags.html !== undefined) writeFileSync(flags.html, renderTimeline(sections));
  for (const code of [EXIT_NOT_LINEARIZABLE, EXIT_BAD_INPUT, EXIT_UNKNOWN]) if (codes.includes(code)) return code;
  return 0;
}

function describeRevisions(revisions: RevisionsResult): string {
  if (revisions.verdict === 'skipped') return '';
  const head = revisions.verdict === 'ok' ? 'revisions consistent' : `REVISION RULES BROKEN (${revisions.violationCount} violations)`;
  const lines = [`\n  etcd revisions: ${head} (${revisions.revisionsKnown} revisions known, ${revisions.unknownWritesPlaced} unknown writes placed, ${revisions.reads} reads, ${revisions.watchers} watch streams with ${revisions.watchEvents} events, ${revisions.elapsedMs.toFixed(1)} ms)`];
  for (const violation of revisions.violations) lines.push(`\n    ${violation.kind}: ${violation.message}`);
  return lines.join('');
}

function revisionsJson(revisions: RevisionsResult): unknown {
  return { ...revisions, violations: revisions.violations.map((violation) => ({ kind: violation.kind, message: violation.message, operations: violation.operations.map((operation) => operation.id) })) };
}

function describe(result: CheckResult): string {
  const verdict = result.verdict === 'ok' ? 'linearizable' : result.verdict === 'violation' ? 'NOT LINEARIZABLE' : 'UNKNOWN (budget exhausted; not a pass)';
  const keys = (count: number): string => `${count} ${count === 1 ? 'key' : 'keys'}`;
  const lines = [`${result.source}: ${verdict} (model ${result.model}, ${result.operations} operations, ${keys(result.keys)}, ${result.elapsedMs.toFixed(1)} ms; decided by the unique-values fast path: ${keys(result.methods['unique-values'])}, by search: ${keys(result.methods.search)})`];
  const counterexample = result.counterexample;
  if (counterexample !== undefined) {
    lines.push(`  key ${JSON.stringify(counterexample.key)}: ${counterexample.reason}`);
    if (counterexample.longestPrefix !== undefined) lines.push(`  longest linearizable prefix: ${counterexample.longestPrefix} operations`);
    lines.push(`  counterexample (${counterexample.operations.length} operations${counterexample.minimal ? ', minimal' : ''}):`);
    for (const operation of counterexample.operations) lines.push(`    ${describeOperation(operation)}`);
  }
  const shown = result.undecided.slice(0, UNDECIDED_SHOWN_MAX);
  if (result.undecided.length > shown.length) lines.push(`  ${result.undecided.length} keys undecided; the first ${shown.length}:`);
  for (const report of shown) {
    lines.push(`  key ${JSON.stringify(report.key)} undecided: ${report.reason ?? ''}; explored ${report.explored?.steps ?? 0} steps, ${report.explored?.cacheEntries ?? 0} cached configurations, longest linearizable prefix ${report.explored?.longestPrefix ?? 0} of ${report.operations} operations`);
  }
  return lines.join('\n');
}

/** JSON cannot hold Infinity: an unknown operation's return is null. */
function toJson(result: CheckResult): unknown {
  const operation = (item: Operation): unknown => ({ ...item, ret: item.ret === Number.POSITIVE_INFINITY ? null : item.ret });
  const counterexample = result.counterexample;
  return {
    ...result,
    counterexample: counterexample === undefined ? undefined : { ...counterexample, operations: counterexample.operations.map(operation), blocked: counterexample.blocked.map(operation) },
  };
}
