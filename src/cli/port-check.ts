import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { createServer } from 'node:net';

/**
 * Checks, before anything starts, that ports are free, and names the
 * process that holds one where Linux's /proc says (only processes this
 * user may inspect: root sees all).
 */

/** A port a command means to bind, and what it is for. */
export interface PlannedPort {
  readonly port: number;
  readonly host: string;
  /** What the port is for, e.g. "n1 client". */
  readonly purpose: string;
}

/** A planned port another process holds. */
export interface BusyPort extends PlannedPort {
  /** The holder, e.g. "pid 4242 (etcd --name x)", when it can be told. */
  readonly holder: string | undefined;
}

/** /proc reads are bounded: a host with more processes than this is searched only this far. */
const PROCESSES_SCANNED_MAX = 4096;
const COMMAND_SHOWN_CHARS_MAX = 120;

/** The ports of `planned` that cannot be bound now, each with its holder where it can be told. */
export async function busyPorts(planned: readonly PlannedPort[]): Promise<BusyPort[]> {
  const results = await Promise.all(planned.map(async (entry) => ((await canBind(entry.host, entry.port)) ? undefined : entry)));
  const busy = results.filter((entry): entry is PlannedPort => entry !== undefined);
  return busy.map((entry) => ({ ...entry, holder: holderOf(entry.port) }));
}

function canBind(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** "pid N (command line)" of the process listening on TCP `port`, if /proc tells. */
export function holderOf(port: number): string | undefined {
  const inodes = listeningInodes(port);
  if (inodes.size === 0) return undefined;
  let scanned = 0;
  for (const entry of safeReaddir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    if (++scanned > PROCESSES_SCANNED_MAX) break;
    for (const fd of safeReaddir(`/proc/${entry}/fd`)) {
      let target: string;
      try {
        target = readlinkSync(`/proc/${entry}/fd/${fd}`);
      } catch {
        continue;
      }
      const match = /^socket:\[(\d+)\]$/.exec(target);
      if (match && inodes.has(match[1]!)) return `pid ${entry} (${commandOf(entry)})`;
    }
  }
  return 'a process this user cannot inspect';
}

/** Socket inodes in LISTEN state on `port`, over IPv4 and IPv6. */
function listeningInodes(port: number): Set<string> {
  const inodes = new Set<string>();
  const portHex = port.toString(16).toUpperCase().padStart(4, '0');
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      // fields: sl, local_address, rem_address, st, tx:rx, tr:when, retrnsmt, uid, timeout, inode
      if (fields.length < 10 || fields[3] !== '0A') continue;
      if (fields[1]!.endsWith(`:${portHex}`)) inodes.add(fields[9]!);
    }
  }
  return inodes;
}

function commandOf(pid: string): string {
  try {
    const command = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
    return command.length > COMMAND_SHOWN_CHARS_MAX ? `${command.slice(0, COMMAND_SHOWN_CHARS_MAX)}...` : command;
  } catch {
    return 'gone';
  }
}

function safeReaddir(path: string): string[] {
  try {
    return readdirSync(path);
  } catch {
    return [];
  }
}
