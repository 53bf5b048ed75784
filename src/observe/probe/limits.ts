/** Every bound keel probe holds itself to, in one place. */

/** Checks in one file: a probe file describes a service's entry points, not a load test. */
export const CHECKS_MAX = 500;
/** A checks file larger than this is refused before it is parsed. */
export const CHECKS_FILE_BYTES_MAX = 1024 * 1024;
/** A check's timeout when it names none (blackbox_exporter's scrape default is 5 s too). */
export const TIMEOUT_MS_DEFAULT = 5_000;
/** The longest timeout a check may ask for. */
export const TIMEOUT_MS_MAX = 10 * 60_000;
/**
 * A check whose code ignores its AbortSignal is still reported as timed out
 * this long after its timeout, so a run never hangs; its socket is destroyed
 * by the same abort.
 */
export const TIMEOUT_GRACE_MS = 250;
/** Checks running at once, in `run` and `serve` alike, unless --concurrency says otherwise. */
export const CONCURRENCY_DEFAULT = 16;
export const CONCURRENCY_MAX = 256;
/** Response bodies read for assertions; a longer body is cut there and the check says so. */
export const RESPONSE_BODY_BYTES_MAX = 1024 * 1024;
/** Labels on one check (each becomes a label on every series of the check). */
export const LABELS_MAX = 16;
/** JSON-path assertions on one HTTP check, and segments in one path. */
export const JSON_ASSERTIONS_MAX = 64;
export const JSON_PATH_SEGMENTS_MAX = 32;
/** Regular expressions in a checks file are at most this long (a guard against pathological patterns). */
export const PATTERN_LENGTH_MAX = 1_000;
/** `serve`'s interval: at least this (a probe is not a load generator), at most a day. */
export const INTERVAL_MS_MIN = 100;
export const INTERVAL_MS_MAX = 24 * 3_600_000;
/** Failure messages are cut to this length (they go into JUnit XML, tables and logs). */
export const MESSAGE_LENGTH_MAX = 500;
