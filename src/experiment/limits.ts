/** Bounds of keel experiment (CONVENTIONS: every loop, queue and wait has a named bound). */

/** An experiment file larger than this is a mistake. */
export const EXPERIMENT_FILE_BYTES_MAX = 1024 * 1024;
/** Activities in the method, probes in a hypothesis, rollbacks: each list at most this long. */
export const ACTIVITIES_MAX = 200;
/** A pause (before or after an activity) is at most this long (s). */
export const PAUSE_SECONDS_MAX = 600;
/** A whole run (the method, the load, the fault schedule) is bounded by this (ms). */
export const RUN_MS_MAX = 3_600_000;
/** A probe's default and largest deadline (ms). */
export const PROBE_TIMEOUT_MS_DEFAULT = 2_000;
export const PROBE_TIMEOUT_MS_MAX = 60_000;
/** How often stop conditions are evaluated, and samples for the timeline taken (ms). */
export const SAMPLE_INTERVAL_MS = 500;
/** Timeline samples kept at most (one per SAMPLE_INTERVAL_MS: two hours). */
export const SAMPLES_MAX = 14_400;
/** History clients at most (each one a connection and one operation at a time). */
export const HISTORY_CLIENTS_MAX = 64;
/** How long the cluster may take to serve after `keel up` starts, and after the last heal (ms). */
export const CLUSTER_READY_TIMEOUT_MS = 60_000;
/** How long keel up gets to stop its members after SIGTERM before SIGKILL (ms). */
export const CLUSTER_STOP_GRACE_MS = 20_000;
/** The checker's default budget (ms); past it the verdict is unknown, never ok. */
export const CHECK_TIME_LIMIT_MS_DEFAULT = 60_000;
/** A process the run started (an etcd control run's member, a backend, the services gateway) that exits is started again after this long (as keel up does for keel)... */
export const RESTART_DELAY_MS = 500;
/** ...at most this many times in one run (per cluster). */
export const RESTARTS_MAX = 100;
/** An experiment has at most this many variants. */
export const VARIANTS_MAX = 8;
/** A services cluster runs at most this many backends. */
export const SERVICE_BACKENDS_MAX = 16;
/** After the faults, the cluster must stay ready this long before the steady state after is judged (ms)... */
export const SETTLE_MS = 2_000;
/** ...polled this often (ms). */
export const SETTLE_POLL_MS = 250;
/** `slow-watch`: after its stall, the watcher reads for at most this long to catch up (ms)... */
export const SLOW_WATCH_DRAIN_MS_MAX = 60_000;
/** ...and counts at most this many events. */
export const SLOW_WATCH_EVENTS_MAX = 10_000_000;
/** `slow-watch`'s default stall (ms). */
export const SLOW_WATCH_STALL_MS_DEFAULT = 15_000;
