/**
 * Exit codes shared by keel's commands (CONVENTIONS: 0 ok, 1 usage or
 * runtime error, 99 thresholds or SLO failed, 127-129 simulator).
 */

/**
 * A long-running process (keel node, keel gateway) failed in a way a restart
 * cannot fix: bad configuration, a port another process holds, a data dir
 * that is locked, invalid or another member's (sysexits' EX_CONFIG).
 * Supervisors do not restart it: keel up reports it, the systemd unit lists
 * it in RestartPreventExitStatus.
 */
export const EXIT_PERMANENT = 78;
