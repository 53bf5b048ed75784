import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ExitCode, runSeed } from '../../sim/run.js';

// The standard run: 300 seeds of mixed cluster sizes (3, 5 and 7 voters,
// drawn from each seed), each with chaos phases (loss, duplication,
// reordering, partitions of every shape, crashes, pauses, membership
// changes, leader transfers, snapshots, restored in one go or in slices,
// DeleteRanges applied in one go or in steps)
// followed by liveness phases. Every
// safety invariant is checked after every step. `keel sim --seeds 1..2000`
// is the longer run.
const SEEDS = 300;
const STEPS = 8_000;

test(`${SEEDS} seeds of mixed sizes pass every safety and liveness check`, () => {
  const failures: string[] = [];
  const sizes = new Map<number, number>();
  let reads = 0;
  let writes = 0;
  let liveness = 0;
  let restoreSlices = 0;
  let applySteps = 0;
  let entriesReadBack = 0;
  for (let seed = 1; seed <= SEEDS; seed++) {
    const result = runSeed(seed, { steps: STEPS });
    sizes.set(result.options.nodes, (sizes.get(result.options.nodes) ?? 0) + 1);
    reads += result.stats.readsChecked;
    writes += result.stats.writesAcknowledged;
    liveness += result.stats.livenessPhases;
    restoreSlices += result.stats.restoreSlices;
    applySteps += result.stats.applySteps;
    entriesReadBack += result.stats.entriesReadBack;
    if (result.exitCode !== ExitCode.Ok) failures.push(`seed ${seed} (exit ${result.exitCode}): ${result.failure}; reproduce: keel sim --seed ${seed} --steps ${STEPS}`);
  }
  assert.deepEqual(failures, []);
  for (const size of [3, 5, 7]) assert.ok((sizes.get(size) ?? 0) >= 30, `too few ${size}-node runs: ${sizes.get(size) ?? 0}`);
  // The checks must have had something to check.
  assert.ok(reads > 10_000 && writes > 10_000 && liveness >= SEEDS, `reads ${reads} writes ${writes} liveness phases ${liveness}`);
  // Followers restored the leader's snapshots in slices (the member's path, applies held meanwhile) in some runs.
  assert.ok(restoreSlices > 1_000, `restore slices ${restoreSlices}`);
  // Members applied sweeps' DeleteRanges in steps (the member's path, later entries and reads held meanwhile) in some runs.
  assert.ok(applySteps > 1_000, `apply steps ${applySteps}`);
  // Leaders read back entries whose data the loop had let go of (options.logCacheBytes >= 0) in some runs.
  assert.ok(entriesReadBack > 1_000, `entries read back ${entriesReadBack}`);
});
