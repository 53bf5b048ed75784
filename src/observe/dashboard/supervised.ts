/**
 * How keel up runs the dashboard: a child process like the members and the
 * gateway (`keel dashboard --data-dir <dir>`), reading the cluster.json
 * keel up keeps current, so a restarted member's new pid shows at once.
 */

/** The default port keel up serves the dashboard on (`--dashboard-port`). */
export const UP_DASHBOARD_PORT_DEFAULT = 8090;

/** The `keel` arguments of the dashboard child of keel up. */
export function dashboardChildArgs(dataDir: string, port: number): string[] {
  return ['dashboard', '--data-dir', dataDir, '--port', String(port), '--host', '127.0.0.1'];
}

export function dashboardUrlOf(port: number): string {
  return `http://127.0.0.1:${port}`;
}
