import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * The path of a file shipped with keel (deploy/, examples/), relative to
 * the package root, from the source tree (tsx) or from dist/; undefined
 * when neither layout has it.
 */
export function shippedFile(relativePath: string): string | undefined {
  for (const up of ['../../../', '../../../../']) {
    const candidate = fileURLToPath(new URL(`${up}${relativePath}`, import.meta.url));
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

/** keel's quorum and gateway alerts. */
export const KEEL_ALERTS_FILE = 'deploy/prometheus/keel-alerts.yaml';
