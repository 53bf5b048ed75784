import { ConfigError } from '../errors.js';
import { type Criticality, Criticality as Levels, CRITICALITY_LEVELS } from '../criticality.js';

/** A share of an adaptive limit reserved for some criticality levels. */
export interface Partition {
  readonly name: string;
  /** Fraction of the limit guaranteed to this partition, in (0, 1]. */
  readonly share: number;
  readonly criticalities: readonly Criticality[];
}

/**
 * Two partitions: CRITICAL_PLUS and CRITICAL share `criticalShare` (default
 * 0.9), SHEDDABLE_PLUS and SHEDDABLE the rest: the 90/10 split of the issue,
 * Netflix's partitioned limiter example.
 */
export function criticalityPartitions(criticalShare = 0.9): Partition[] {
  if (!(criticalShare > 0 && criticalShare < 1)) throw new ConfigError('criticalShare must be in (0, 1)');
  return [
    { name: 'critical', share: criticalShare, criticalities: [Levels.CRITICAL_PLUS, Levels.CRITICAL] },
    { name: 'sheddable', share: 1 - criticalShare, criticalities: [Levels.SHEDDABLE_PLUS, Levels.SHEDDABLE] },
  ];
}

/** Checks partitions cover every level once and shares sum to at most 1; returns level → partition index. */
export function partitionIndex(partitions: readonly Partition[]): ReadonlyMap<Criticality, number> {
  const index = new Map<Criticality, number>();
  let total = 0;
  partitions.forEach((partition, position) => {
    if (!(partition.share > 0 && partition.share <= 1)) throw new ConfigError(`partition ${partition.name}: share must be in (0, 1]`);
    total += partition.share;
    for (const level of partition.criticalities) {
      if (index.has(level)) throw new ConfigError(`criticality ${level} is in two partitions`);
      index.set(level, position);
    }
  });
  if (total > 1 + 1e-9) throw new ConfigError('partition shares add up to more than 1');
  const missing = CRITICALITY_LEVELS.filter((level) => !index.has(level));
  if (missing.length > 0) throw new ConfigError(`no partition for ${missing.join(', ')}`);
  return index;
}
