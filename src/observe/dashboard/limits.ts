/**
 * Every bound of the dashboard server in one place: polls, responses,
 * history and browsers are all finite, so a slow, huge or hostile target
 * cannot grow its memory or stall its loop.
 */

/** Default time between two polls of every target. */
export const POLL_INTERVAL_MS_DEFAULT = 1_000;
export const POLL_INTERVAL_MS_MIN = 200;
export const POLL_INTERVAL_MS_MAX = 60_000;
/** One request to one target; a target slower than this counts as down for that poll. */
export const FETCH_TIMEOUT_MS = 1_500;
/** A response body larger than this is cut off and the poll of that target fails (a member's /metrics is ~40 kB). */
export const RESPONSE_BYTES_MAX = 4 * 1024 * 1024;
/** Points of chart history kept (and sent to a browser that connects): 10 minutes at 1 s. */
export const HISTORY_POINTS_MAX = 600;
/** Browsers connected to /events at once; more are answered 503. */
export const EVENT_STREAMS_MAX = 64;
/** A browser whose socket holds more unsent bytes than this is too slow to follow: it is disconnected. */
export const EVENT_STREAM_BACKLOG_BYTES_MAX = 1024 * 1024;
/** Members watched (etcd clusters are small; keel up starts at most 7). */
export const MEMBERS_MAX = 64;
/** Alerts shown; the rest are counted. */
export const ALERTS_SHOWN_MAX = 100;
/** Rows of one gateway table (endpoints, rejections) shown. */
export const GATEWAY_ROWS_MAX = 256;
/** A member this many entries behind the leader's commit index is shown as lagging. */
export const LAG_ENTRIES_WARN = 1_000;
/** Samples one /metrics text may hold before the parser stops reading it. */
export const METRIC_SAMPLES_MAX = 50_000;
/** Length of a label value or name kept from an untrusted target. */
export const TEXT_CHARS_MAX = 512;
