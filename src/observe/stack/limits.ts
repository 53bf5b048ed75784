/** Every bound the observe stack keeps, named in one place. */

/** A notification body Alertmanager posts to the built-in receiver; bigger ones get 413. */
export const RECEIVER_BODY_BYTES_MAX = 1_048_576;
/** alerts.jsonl is rotated to alerts.jsonl.1 past this size (one old file kept). */
export const ALERTS_FILE_BYTES_MAX = 64 * 1_048_576;
/** Alerts named in one logged line of a notification; the rest are counted. */
export const ALERTS_LOGGED_PER_NOTIFICATION_MAX = 5;
/** Extra scrape targets (--observe-target). */
export const EXTRA_TARGETS_MAX = 64;
/** How long Prometheus and Alertmanager get to answer /-/ready after they start. */
export const READY_TIMEOUT_MS = 60_000;
export const READY_POLL_MS = 200;
/** Restart backoff of a supervised process that died, doubling from the minimum. */
export const RESTART_DELAY_MS_MIN = 500;
export const RESTART_DELAY_MS_MAX = 10_000;
/** A process up this long has its backoff reset. */
export const STABLE_AFTER_MS = 30_000;
/** SIGTERM, then SIGKILL after this long. */
export const STOP_GRACE_MS = 10_000;
/** How much of a process's log an error quotes. */
export const LOG_TAIL_BYTES = 2_048;
/** Prometheus's local storage bound (it drops the oldest blocks past it). */
export const PROMETHEUS_RETENTION_SIZE = '1GB';
export const PROMETHEUS_RETENTION_TIME = '7d';
/** Shortest and longest scrape/evaluation interval and Alertmanager timing accepted. */
export const DURATION_MS_MIN = 100;
export const DURATION_MS_MAX = 7 * 86_400_000;
