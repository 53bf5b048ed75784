/** Synthetic checks (`keel probe`): HTTP, KV round trip, gRPC health and TCP checks from a YAML file, run once or on a schedule with blackbox_exporter-style metrics. */
export { parseChecks, readChecksFile, type Check, type CheckKind } from './config.js';
export { ProbeError, PROBE_ERROR_CODES, type ProbeErrorCode } from './errors.js';
export { runCheck, runChecks, type RunOptions } from './runner.js';
export type { CheckResult, Outcome } from './result.js';
export { renderJunit, escapeXml, type JunitRun } from './junit.js';
export { renderResults, OUTPUT_FORMATS, type OutputFormat } from './report.js';
export { ProbeMetrics } from './metrics.js';
export { ProbeScheduler, type SchedulerOptions } from './scheduler.js';
export { ProbeServer, type ProbeServerOptions } from './server.js';
export { parseDurationMs } from './duration.js';
export { splitAddress } from './config.js';
export * as limits from './limits.js';
