/** Bounds of the fault injector (CONVENTIONS: every loop, queue and wait has a named bound). */

/** The longest lease a fault may carry: a forgotten fault heals within an hour at worst. */
export const LEASE_MS_MAX = 3_600_000;
/** The shortest lease: the watchdog polls every WATCHDOG_POLL_MS, so shorter would not be honoured. */
export const LEASE_MS_MIN = 100;
/** How often the watchdog looks for expired leases. */
export const WATCHDOG_POLL_MS = 100;
/** The watchdog exits after this long with no active fault (a new fault starts a new one). */
export const WATCHDOG_IDLE_EXIT_MS = 2_000;
/** Most fault records the state dir may hold: a loop that injects without healing is refused, not piled up. */
export const ACTIVE_FAULTS_MAX = 256;
/** A host command (ip, nft, tc) that takes longer is killed and reported failed. */
export const COMMAND_TIMEOUT_MS = 10_000;
/** One /v3/maintenance/status or failpoint call. */
export const MEMBER_CALL_TIMEOUT_MS = 2_000;
/** How long a restart waits for the old process to exit after SIGTERM before SIGKILL. */
export const RESTART_STOP_GRACE_MS = 10_000;
/** How long a restart under keel up waits for the supervisor to start the member again. */
export const RESTART_SUPERVISOR_WAIT_MS = 30_000;
/** Most members a cluster view may list (keel up starts at most 7). */
export const MEMBERS_MAX = 64;
/** Compiling faultfs (gcc, one file) once; a slower build is killed and reported failed. */
export const FAULTFS_BUILD_TIMEOUT_MS = 120_000;
/** From starting faultfs to its mount answering; past it the process is stopped and the mount refused. */
export const FAULTFS_MOUNT_TIMEOUT_MS = 30_000;
/** How long an unmount waits for faultfs to exit after fusermount3 -u, and again after SIGTERM, before SIGKILL. */
export const FAULTFS_EXIT_WAIT_MS = 10_000;
/** How often a mount or an unmount looks again at /proc/self/mountinfo and the process. */
export const FAULTFS_POLL_MS = 20;
/** Longest delay faultfs sleeps for one call (its DELAY_US_MAX): one minute. */
export const FAULTFS_DELAY_US_MAX = 60_000_000;
/** Largest "fail the next n" count (its NEXT_MAX). */
export const FAULTFS_NEXT_MAX = 1_000_000_000;
/** The tail of faultfs's standard error kept for error messages. */
export const FAULTFS_STDERR_BYTES_MAX = 8_192;
