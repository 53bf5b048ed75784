import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';

// End to end, a short experiments/retry-storm.yaml: a services cluster (one
// backend of fixed capacity behind a real keel gateway, both processes this
// run starts), the backend's fault control route, and the two variants run
// one after the other. The run must complete (each variant ended as
// expected), and the backend must have taken far more requests without the
// retry budget than with it. About 20 s on a busy 2-core box.
const bin = join(import.meta.dirname, '../../dist/src/cli/main.js');

/** The parts of the file the short version changes. */
interface RetryStormFile {
  method: { pauses: unknown; provider: { body: unknown }; tolerance: { range: number[] } }[];
  load: { options: { scenarios: Record<string, unknown> } };
}

interface Variant { name: string; status: string; as_expected: boolean; probes: { output: { requests: number } }[] }

test('retry storm, short: the variant without a retry budget multiplies the backend\'s load, the budgeted one does not', async () => {
  const root = mkdtempSync(join(tmpdir(), 'keel-experiment-services-'));
  try {
    const experiment = parse(readFileSync(join(import.meta.dirname, '../../experiments/retry-storm.yaml'), 'utf8')) as RetryStormFile;
    // 50 req/s for ~7 s, the backend refusing everything for 5 of them: ~350 requests; with the budget ~60 retries, without it ~1,000.
    experiment.method[0]!.pauses = { before: 1, after: 6 };
    experiment.method[0]!.provider.body = { status: 503, forMs: 5_000 };
    experiment.method[1]!.tolerance.range = [0, 800];
    experiment.load.options.scenarios.open = { executor: 'constant-arrival-rate', rate: 50, timeUnit: '1s', duration: '15s', preAllocatedVUs: 20 };
    const file = join(root, 'retry-storm.yaml');
    writeFileSync(file, stringify(experiment));
    const output = join(root, 'out');
    const child = spawn(process.execPath, [bin, 'experiment', 'run', file, '--output', output, '--quiet'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let printed = '';
    child.stdout!.on('data', (chunk: Buffer) => (printed += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (printed += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    assert.equal(code, 0, printed);
    const journal = JSON.parse(readFileSync(join(output, 'journal.json'), 'utf8')) as { status: string; keel: { variants: Variant[] } };
    assert.equal(journal.status, 'completed');
    const [withBudget, withoutBudget] = journal.keel.variants;
    assert.deepEqual([withBudget!.name, withBudget!.status, withoutBudget!.name, withoutBudget!.status], ['with-budget', 'completed', 'without-budget', 'failed']);
    const reached = (variant: Variant): number => variant.probes[0]!.output.requests;
    assert.ok(reached(withoutBudget!) > 1.5 * reached(withBudget!), `backend requests: ${reached(withBudget!)} with the budget, ${reached(withoutBudget!)} without`);
    for (const name of ['with-budget', 'without-budget']) readFileSync(join(output, name, 'report.html'), 'utf8');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
