import type { IncomingHttpHeaders } from 'node:http';
import type { Random } from '../resilience/index.js';
import { CidrSet } from './address.js';
import type { GatewayConfig, RouteConfig } from './config.js';

/** What a route is matched on. */
export interface RouteRequest {
  readonly method: string;
  readonly host: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly clientIp: string;
}

export interface RouteMatch {
  readonly route: RouteConfig;
  /** The cluster chosen (for weighted clusters, drawn by weight). */
  readonly cluster: string;
}

interface CompiledRoute {
  readonly route: RouteConfig;
  readonly matches: (request: RouteRequest) => boolean;
  readonly totalWeight: number;
}

function headerText(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(',') : value;
}

function compile(route: RouteConfig): CompiledRoute {
  const checks: Array<(request: RouteRequest) => boolean> = [];
  const { match } = route;
  if (match.host !== undefined) {
    const host = match.host.toLowerCase();
    checks.push((request) => request.host === host);
  }
  if (match.prefix !== undefined) {
    const prefix = match.prefix;
    checks.push((request) => request.path.startsWith(prefix));
  }
  if (match.regex !== undefined) {
    const regex = new RegExp(match.regex);
    checks.push((request) => regex.test(request.path));
  }
  if (match.methods !== undefined) {
    const methods = new Set(match.methods);
    checks.push((request) => methods.has(request.method));
  }
  for (const header of match.headers ?? []) {
    const regex = header.regex === undefined ? undefined : new RegExp(header.regex);
    checks.push((request) => {
      const value = headerText(request.headers, header.name);
      if (header.present === false) return value === undefined;
      if (value === undefined) return false;
      if (header.exact !== undefined && value !== header.exact) return false;
      return regex === undefined || regex.test(value);
    });
  }
  if (match.sourceCidrs !== undefined) {
    const cidrs = new CidrSet(match.sourceCidrs);
    checks.push((request) => cidrs.contains(request.clientIp));
  }
  const totalWeight = (route.weightedClusters ?? []).reduce((sum, weighted) => sum + weighted.weight, 0);
  return { route, matches: (request) => checks.every((check) => check(request)), totalWeight };
}

/**
 * The routes in config order; the first that matches wins (host, path
 * prefix or regex, methods, headers, client CIDRs — all given must hold).
 * Weighted clusters split traffic by weight (canary), drawn per request.
 */
export class Router {
  readonly #routes: readonly CompiledRoute[];
  readonly #random: Random;

  constructor(config: GatewayConfig, random: Random) {
    this.#routes = config.routes.map(compile);
    this.#random = random;
  }

  match(request: RouteRequest): RouteMatch | undefined {
    for (const compiled of this.#routes) {
      if (!compiled.matches(request)) continue;
      return { route: compiled.route, cluster: this.#clusterOf(compiled) };
    }
    return undefined;
  }

  #clusterOf(compiled: CompiledRoute): string {
    const { route } = compiled;
    if (route.cluster !== undefined) return route.cluster;
    const weighted = route.weightedClusters ?? [];
    let draw = this.#random.next() * compiled.totalWeight;
    for (const entry of weighted) {
      draw -= entry.weight;
      if (draw < 0) return entry.cluster;
    }
    return weighted[weighted.length - 1]?.cluster ?? '';
  }
}
