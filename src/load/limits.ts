/** Every bound keel load holds itself to, in one place. */

/** A test never runs longer than a day, whatever its options say. */
export const DURATION_MS_MAX = 24 * 3_600_000;
/** Iteration-based executors stop after this long unless given maxDuration (k6's default). */
export const MAX_DURATION_MS_DEFAULT = 10 * 60_000;
/** Iterations running when a scenario ends get this long to finish before they are interrupted (k6's gracefulStop). */
export const GRACEFUL_STOP_MS_DEFAULT = 30_000;
/** VUs in one run, over all workers and agents. */
export const VUS_MAX = 200_000;
/** Iterations of one iteration-based scenario. */
export const ITERATIONS_MAX = 1_000_000_000;
/** Arrivals per second of one arrival-rate scenario. */
export const ARRIVAL_RATE_PER_SECOND_MAX = 10_000_000;
/** Scenarios in one options object. */
export const SCENARIOS_MAX = 64;
/** Stages of one ramping executor. */
export const STAGES_MAX = 1_000;
/** Longest latency the histograms track (1 h in µs); longer values are clamped. */
export const LATENCY_US_MAX = 3_600_000_000;
/** A threshold's sliding window: at most 10 minutes of 1-second intervals. */
export const WINDOW_SECONDS_MAX = 600;
/** Distinct error kinds kept in the summary (the rest count as "other"). */
export const ERROR_KINDS_MAX = 32;
/** Distinct check names kept (the rest count under "other checks"). */
export const CHECK_NAMES_MAX = 256;
/** Distinct custom/sub metric names kept. */
export const METRIC_NAMES_MAX = 256;
/** Response bodies read into memory for checks (longer bodies are cut). */
export const RESPONSE_BODY_BYTES_MAX = 1024 * 1024;
/** How often workers send their interval metrics to the coordinator. */
export const SNAPSHOT_INTERVAL_MS = 1_000;
/** Per-second points kept for the time series (HTML report, NDJSON): a day. */
export const TIME_SERIES_POINTS_MAX = 86_400;
/** Worker processes of one coordinator. */
export const WORKERS_MAX = 256;
/** A worker that has not reported for this long is lost (generous: a loaded 2-core box can stall a worker for seconds). */
export const WORKER_SILENCE_MS_MAX = 30_000;
/** Largest agent protocol frame (a snapshot with a few dozen encoded histograms). */
export const FRAME_BYTES_MAX = 16 * 1024 * 1024;
/** Request timeout per HTTP request unless the scenario sets one. */
export const REQUEST_TIMEOUT_MS_DEFAULT = 60_000;
/** A PEM file or text given to tlsCa or tlsAuth (a CA bundle is a few hundred KB). */
export const PEM_BYTES_MAX = 1024 * 1024;
/** Client certificates in tlsAuth, and domains named by one of them. */
export const TLS_AUTH_MAX = 16;
export const TLS_AUTH_DOMAINS_MAX = 64;
/** setup()'s return value as JSON, sent to every worker and agent with the job. */
export const SETUP_DATA_BYTES_MAX = 1024 * 1024;
/** How deep setup()'s return value may nest (a deeper value is almost surely a cycle-like mistake, and JSON recursion has a stack). */
export const SETUP_DATA_DEPTH_MAX = 64;
/** setup() and teardown() are cut off after this long unless setupTimeout/teardownTimeout say otherwise (k6's defaults). */
export const SETUP_TIMEOUT_MS_DEFAULT = 60_000;
export const TEARDOWN_TIMEOUT_MS_DEFAULT = 60_000;
/** One line of a streamed response (a watch event carries a value of up to 1 MiB, base64 in JSON); a longer line fails the stream. */
export const STREAM_LINE_BYTES_MAX = 4 * 1024 * 1024;
/** Streams one VU holds open at once per origin (each has its own connection); more wait for one to close. */
export const STREAMS_PER_ORIGIN_MAX = 16;
