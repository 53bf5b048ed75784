import { readFileSync } from 'node:fs';
import { DashboardError } from './errors.js';
import { MEMBERS_MAX, TEXT_CHARS_MAX } from './limits.js';

/**
 * What the dashboard watches: members, the gateway's admin API, and the
 * optional Prometheus, Alertmanager and keel load endpoints. From flags, or
 * from keel up's cluster.json, which is read again on every poll: keel up
 * rewrites it when a member restarts (new pid, restart count).
 */

export interface MemberTarget {
  /** The member's name (n1) or, when only a URL is known, the URL. */
  readonly name: string;
  /** Its client URL, e.g. http://127.0.0.1:2379. */
  readonly url: string;
  readonly zone?: string;
  readonly pid?: number | null;
  readonly restarts?: number;
  /** Why keel up gave up on it, if it did. */
  readonly failed?: string;
}

export interface Targets {
  readonly members: readonly MemberTarget[];
  /** The gateway's admin URL (/clusters, /metrics), e.g. http://127.0.0.1:9901. */
  readonly gatewayAdminUrl?: string;
}

/** Where targets come from: fixed flags, or a cluster file read on every poll. */
export interface TargetSource {
  read(): Targets;
}

/** A flag's URL: http or https with a host, returned without a trailing slash; a clear error naming the flag otherwise. */
export function parseTargetUrl(flag: string, value: string): string {
  let parsed: URL;
  try {
    parsed = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `http://${value}`);
  } catch {
    throw new DashboardError('KEEL_DASH_BAD_INPUT', `${flag}: ${JSON.stringify(value)} is not a URL (http://host:port)`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new DashboardError('KEEL_DASH_BAD_INPUT', `${flag}: ${JSON.stringify(value)} is not an http or https URL`);
  if (parsed.hostname === '') throw new DashboardError('KEEL_DASH_BAD_INPUT', `${flag}: ${JSON.stringify(value)} has no host`);
  return `${parsed.origin}${parsed.pathname.replace(/\/+$/, '')}`;
}

/** `--endpoints`: comma-separated `url` or `name=url` entries. */
export function parseEndpointList(value: string): MemberTarget[] {
  const entries = value.split(',').map((entry) => entry.trim()).filter(Boolean);
  if (entries.length === 0) throw new DashboardError('KEEL_DASH_BAD_INPUT', '--endpoints: give at least one member URL');
  if (entries.length > MEMBERS_MAX) throw new DashboardError('KEEL_DASH_BAD_INPUT', `--endpoints: at most ${MEMBERS_MAX} members`);
  return entries.map((entry) => {
    const named = /^([A-Za-z0-9_.-]+)=(.+)$/.exec(entry);
    if (!named && entry.includes('=')) throw new DashboardError('KEEL_DASH_BAD_INPUT', `--endpoints: ${JSON.stringify(entry)} is not url or name=url`);
    const url = parseTargetUrl('--endpoints', named ? named[2]! : entry);
    return { name: named ? named[1]! : url, url };
  });
}

export class FixedTargets implements TargetSource {
  constructor(readonly targets: Targets) {}
  read(): Targets {
    return this.targets;
  }
}

interface ClusterFileMember {
  id?: unknown; zone?: unknown; clientUrl?: unknown; pid?: unknown; restarts?: unknown; failed?: unknown;
}

/**
 * keel up's cluster.json. The first read must succeed (a missing or
 * malformed file is bad input); later reads that fail (keel up is
 * rewriting it, or has stopped) keep the last good targets.
 */
export class ClusterFileTargets implements TargetSource {
  #last: Targets;

  constructor(readonly path: string, readonly gatewayOverride?: string) {
    this.#last = this.#parse();
  }

  read(): Targets {
    try {
      this.#last = this.#parse();
    } catch {
      // keep the last good read: keel up renames a new file into place, so a failed read is a moment, not a state
    }
    return this.#last;
  }

  #parse(): Targets {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch {
      throw new DashboardError('KEEL_DASH_NO_TARGETS', `${this.path} not found: is keel up running with that --data-dir? Or give --endpoints`);
    }
    let body: { members?: unknown; gateway?: { adminUrl?: unknown } };
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      throw new DashboardError('KEEL_DASH_NO_TARGETS', `${this.path} is not JSON`);
    }
    if (!Array.isArray(body.members) || body.members.length === 0) throw new DashboardError('KEEL_DASH_NO_TARGETS', `${this.path} lists no members`);
    const members = (body.members as ClusterFileMember[]).slice(0, MEMBERS_MAX).map((member, index) => memberOf(member, index, this.path));
    const adminUrl = this.gatewayOverride ?? (typeof body.gateway?.adminUrl === 'string' ? parseTargetUrl(`${this.path} gateway.adminUrl`, body.gateway.adminUrl) : undefined);
    return { members, ...(adminUrl === undefined ? {} : { gatewayAdminUrl: adminUrl }) };
  }
}

function memberOf(member: ClusterFileMember, index: number, path: string): MemberTarget {
  if (typeof member.clientUrl !== 'string') throw new DashboardError('KEEL_DASH_NO_TARGETS', `${path}: members[${index}].clientUrl is missing`);
  const url = parseTargetUrl(`${path} members[${index}].clientUrl`, member.clientUrl);
  return {
    name: typeof member.id === 'string' ? member.id.slice(0, TEXT_CHARS_MAX) : url,
    url,
    ...(typeof member.zone === 'string' ? { zone: member.zone.slice(0, TEXT_CHARS_MAX) } : {}),
    ...(typeof member.pid === 'number' || member.pid === null ? { pid: member.pid } : {}),
    ...(typeof member.restarts === 'number' ? { restarts: member.restarts } : {}),
    ...(typeof member.failed === 'string' ? { failed: member.failed.slice(0, TEXT_CHARS_MAX) } : {}),
  };
}
