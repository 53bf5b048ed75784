/**
 * The services cluster's gateway config (schema.ts validates it, the
 * services cluster writes it): the file's keel gateway config with `${b1}`
 * in its strings replaced by backend b1's `127.0.0.1:PORT`, and the run's
 * own listener and admin port.
 */

const PLACEHOLDER = /\$\{([A-Za-z][A-Za-z0-9_-]*)\}/g;

export function substituteBackends(value: unknown, addresses: ReadonlyMap<string, string>): unknown {
  if (typeof value === 'string') return value.replace(PLACEHOLDER, (whole, id: string) => addresses.get(id) ?? whole);
  if (Array.isArray(value)) return value.map((item) => substituteBackends(item, addresses));
  if (typeof value === 'object' && value !== null) return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, substituteBackends(item, addresses)]));
  return value;
}

/** `${id}` placeholders in `value` that name no backend. */
export function unknownPlaceholders(value: unknown, ids: ReadonlySet<string>): string[] {
  const text = JSON.stringify(value) ?? '';
  return [...text.matchAll(PLACEHOLDER)].map((match) => match[1]!).filter((id) => !ids.has(id));
}

export function servicesGatewayConfig(gateway: Readonly<Record<string, unknown>>, addresses: ReadonlyMap<string, string>, port: number, adminPort: number): Record<string, unknown> {
  const config = substituteBackends(gateway, addresses) as Record<string, unknown>;
  return { ...config, listeners: [{ port }], admin: { port: adminPort } };
}
