/**
 * Request criticality, Google's four levels (SRE book, "Handling
 * Overload"), most important first. A first-class attribute of every
 * `PolicyContext`: throttles keep separate statistics per level, bulkheads
 * let more critical waiters displace less critical ones, and the partitioned
 * concurrency limiter reserves capacity by level.
 */
export const Criticality = Object.freeze({
  /** Requests whose failure has serious user-visible impact; shed last. */
  CRITICAL_PLUS: 'CRITICAL_PLUS',
  /** The default for production traffic. */
  CRITICAL: 'CRITICAL',
  /** Traffic that tolerates partial unavailability (batch with deadlines). */
  SHEDDABLE_PLUS: 'SHEDDABLE_PLUS',
  /** Traffic that expects frequent partial unavailability; shed first. */
  SHEDDABLE: 'SHEDDABLE',
} as const);

export type Criticality = (typeof Criticality)[keyof typeof Criticality];

/** All levels, most critical first. */
export const CRITICALITY_LEVELS: readonly Criticality[] = Object.freeze([
  Criticality.CRITICAL_PLUS,
  Criticality.CRITICAL,
  Criticality.SHEDDABLE_PLUS,
  Criticality.SHEDDABLE,
]);

/** CRITICAL, as in Google's RPC stack: unlabelled traffic is production traffic. */
export const DEFAULT_CRITICALITY: Criticality = Criticality.CRITICAL;

/** The header that carries criticality between keel services. */
export const CRITICALITY_HEADER = 'keel-criticality';

/** 0 for CRITICAL_PLUS up to 3 for SHEDDABLE. */
export function criticalityRank(criticality: Criticality): number {
  return CRITICALITY_LEVELS.indexOf(criticality);
}

/** True when `criticality` is at least as important as `floor`. */
export function isAtLeast(criticality: Criticality, floor: Criticality): boolean {
  return criticalityRank(criticality) <= criticalityRank(floor);
}

/** Parses a header value (`critical_plus`, `CRITICAL-PLUS`, `sheddable` ...); undefined when unknown. */
export function parseCriticality(value: string | undefined | null): Criticality | undefined {
  if (value === undefined || value === null) return undefined;
  const normalised = value.trim().toUpperCase().replace(/-/g, '_');
  return CRITICALITY_LEVELS.find((level) => level === normalised);
}
