/** Bounds for the SLO engine: every buffer, list and loop in src/observe/slo has one here. */

/** YAML documents in one SLO file. */
export const DOCUMENTS_MAX = 1_000;
/** SLOs one evaluator or one rule file holds. */
export const SLOS_MAX = 500;
/** Bytes of one SLO file. */
export const FILE_BYTES_MAX = 4 * 1024 * 1024;
/** Samples kept per tracked selector in the scrape evaluator's ring buffer (3d at 15 s is 17,280). */
export const SAMPLES_PER_SELECTOR_MAX = 20_000;
/** Series state kept per target (last value of each matching series, for reset detection). */
export const SERIES_PER_TARGET_MAX = 50_000;
/** Scrape targets one evaluator reads. */
export const TARGETS_MAX = 64;
/** Bytes of one /metrics answer or one Prometheus API answer. */
export const RESPONSE_BYTES_MAX = 64 * 1024 * 1024;
/** Time slices evaluated for one window (3d of 1m slices is 4,320). */
export const TIMESLICES_MAX = 50_000;
/** Milliseconds one scrape or one Prometheus query may take. */
export const REQUEST_TIMEOUT_MS = 10_000;
/** Largest --time-scale: windows shorter than a second are of no use to anyone. */
export const TIME_SCALE_MAX = 100_000;
