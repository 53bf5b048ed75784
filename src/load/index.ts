/**
 * keel/load: a load generator. A scenario module exports `options` and a
 * default function each VU runs once per iteration:
 *
 *   import type { VU, Options } from 'keel/load';
 *   export const options: Options = { vus: 10, duration: '30s', thresholds: { http_req_duration: ['p(99)<200'] } };
 *   export default async function (vu: VU) {
 *     const response = await vu.http.get('http://127.0.0.1:8080/');
 *     vu.check(response, { 'status is 200': (r) => r.status === 200 });
 *     await vu.sleep(1);
 *   }
 *
 * k6's lifecycle: `export async function setup(vu: VU)` runs once before
 * any VU starts; what it returns (JSON, at most 1 MiB) is every iteration's
 * second argument, `export default async function (vu: VU, data: Data)`,
 * and `export async function teardown(data: Data, vu: VU)` gets it after
 * the run (types: DefaultFunction, SetupFunction, TeardownFunction).
 *
 * See docs/load.md.
 */
export { runLoad, effectiveOptions, EXIT_PASSED, EXIT_RUNTIME_ERROR, EXIT_BAD_INPUT, EXIT_THRESHOLDS_FAILED, type RunConfig, type RunResult } from './coordinator.js';
export { VU, IterationInterrupted } from './vu.js';
export type { HttpResponse, RequestParams } from './http.js';
export type { HttpStream } from './http-stream.js';
export type { DefaultFunction } from './scenario.js';
export type { SetupFunction, TeardownFunction } from './lifecycle.js';
export { VuPool } from './vu-pool.js';
export type { InlineScenario, IterationFunction } from './scenario.js';
export { parseOptions, scenarioPlans, presetScenario, type Options, type ScenarioPlan, type ExecutorPlan } from './options.js';
export { parseThresholds, ThresholdJudge, type Threshold, type ThresholdResult } from './thresholds.js';
export { LoadError, isLoadError, type LoadErrorCode } from './errors.js';
export { FakeClock, realClock, type Clock } from './clock.js';
export { IntervalRecorder, MetricTotals, combineSnapshots, type MetricsSnapshot } from './metrics.js';
export { newHistogram, encodeHistogram, decodeHistogram } from './histogram.js';
export type { Summary } from './summary.js';
export type { TimePoint } from './timeseries.js';
export { TargetGuard, isLoopbackHost } from './targets.js';
export { kvWorkload, kvKey, keyPicker, seededRandom, type KvWorkloadOptions, type KeyDistribution } from './workloads/kv.js';
export type { GrpcCall, GrpcResponse } from './grpc.js';
