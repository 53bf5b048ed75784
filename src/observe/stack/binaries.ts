import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { ObserveStackError } from './errors.js';

/** The two programs `keel up --observe` runs, and the Debian package each comes in. */
export interface ObserveBinaries {
  readonly prometheus: string;
  readonly alertmanager: string;
}

interface Wanted {
  /** Names to look for on PATH and in /usr/bin, Debian's first. */
  readonly names: readonly string[];
  readonly debianPackage: string;
}

const PROMETHEUS: Wanted = { names: ['prometheus'], debianPackage: 'prometheus' };
/** Debian installs Alertmanager as prometheus-alertmanager; upstream's tarball calls it alertmanager. */
const ALERTMANAGER: Wanted = { names: ['prometheus-alertmanager', 'alertmanager'], debianPackage: 'prometheus-alertmanager' };

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Where Debian installs both, searched after PATH (a service's PATH may lack it). */
const DEBIAN_BIN = '/usr/bin';

function find(wanted: Wanted, searchPath: string, fallback: readonly string[]): string | undefined {
  const directories = [...searchPath.split(delimiter).filter(Boolean), ...fallback];
  for (const name of wanted.names) {
    for (const directory of directories) {
      const candidate = join(directory, name);
      if (executable(candidate)) return candidate;
    }
  }
  return undefined;
}

/**
 * Finds Prometheus and Alertmanager, or throws one error naming every
 * missing program and the Debian package that installs it.
 */
export function findObserveBinaries(searchPath = process.env.PATH ?? '', fallback: readonly string[] = [DEBIAN_BIN]): ObserveBinaries {
  const prometheus = find(PROMETHEUS, searchPath, fallback);
  const alertmanager = find(ALERTMANAGER, searchPath, fallback);
  const missing = [
    ...(prometheus ? [] : [PROMETHEUS]),
    ...(alertmanager ? [] : [ALERTMANAGER]),
  ];
  if (missing.length > 0) {
    const named = missing.map((wanted) => `${wanted.names[0]} (Debian package ${wanted.debianPackage})`).join(' and ');
    const packages = missing.map((wanted) => wanted.debianPackage).join(' ');
    throw new ObserveStackError('KEEL_OBSERVE_STACK_BINARY_MISSING', `--observe needs ${named}, not found on PATH or in /usr/bin: apt-get install ${packages}`);
  }
  return { prometheus: prometheus!, alertmanager: alertmanager! };
}
