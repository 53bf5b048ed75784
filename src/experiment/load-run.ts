import { writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { Writable } from 'node:stream';
import { stringify } from 'yaml';
import { runLoad, type RunResult } from '../load/index.js';
import type { ExperimentCluster } from './cluster.js';
import { ExperimentError } from './errors.js';
import type { LoadSpec } from './schema.js';

/**
 * The extension `load`: a keel load scenario run in this process for the
 * whole method (keel load's coordinator with no worker processes, so the
 * 2-core CI box is not shared with forks). Inline requests become a keel load
 * YAML scenario in the output dir, with `${target}` replaced by the gateway's
 * or the first member's URL; a scenario file is run as is, with the URL in
 * KEEL_EXPERIMENT_TARGET. Aborting the signal ends it gracefully.
 */
export interface RunningLoad {
  /** Ends the load (if still running) and returns keel load's result: per-second points, summary, thresholds. */
  stop(): Promise<RunResult | undefined>;
  /** Set when keel load failed (bad scenario, target refused). */
  readonly error: () => Error | undefined;
}

export function targetUrl(spec: LoadSpec, cluster: Pick<ExperimentCluster, 'gatewayUrl' | 'endpoints'>): string {
  if (spec.target === 'gateway' && cluster.gatewayUrl !== undefined) return cluster.gatewayUrl;
  return cluster.endpoints[0]!;
}

export function startLoad(spec: LoadSpec, cluster: ExperimentCluster, options: { readonly experimentFile: string; readonly outputDir: string }): RunningLoad {
  const target = targetUrl(spec, cluster);
  let scenarioFile: string;
  if (spec.scenario !== undefined) {
    scenarioFile = resolve(dirname(options.experimentFile), spec.scenario);
  } else {
    scenarioFile = join(options.outputDir, 'load-scenario.yaml');
    const requests = spec.requests!.map((request) => ({ ...request, url: request.url.replaceAll('${target}', target) }));
    writeFileSync(scenarioFile, stringify({ options: spec.options ?? {}, requests }));
  }
  process.env.KEEL_EXPERIMENT_TARGET = target;
  const controller = new AbortController();
  const sink = new Writable({ write: (_chunk, _encoding, callback) => callback() });
  let error: Error | undefined;
  const hosts = cluster.endpoints.map((url) => new URL(url).hostname);
  const running = runLoad({ scenarioFile, workers: 0, progress: false, output: sink, signal: controller.signal, allowRemote: hosts, ndjson: join(options.outputDir, 'load.ndjson') }).catch((caught: unknown) => {
    error = caught instanceof Error ? caught : new ExperimentError('KEEL_EXPERIMENT_CLUSTER', String(caught));
    return undefined;
  });
  return {
    async stop() {
      controller.abort();
      return running;
    },
    error: () => error,
  };
}
