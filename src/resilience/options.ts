import { ConfigError } from './errors.js';

/** Drops keys whose value is undefined so `{ ...DEFAULTS, ...definedOnly(options) }` keeps the defaults. */
export function definedOnly<T extends object>(options: T): Partial<T> {
  const result: Partial<T> = {};
  for (const [key, value] of Object.entries(options)) {
    if (value !== undefined) (result as Record<string, unknown>)[key] = value;
  }
  return result;
}

/** Throws `ConfigError` unless `value` is an integer in `min..max`. */
export function checkInteger(name: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) throw new ConfigError(`${name} must be an integer in ${min}..${max}, got ${value}`);
  return value;
}

/** Throws `ConfigError` unless `value` is a finite number in `[min, max]`. */
export function checkRange(name: string, value: number, min: number, max: number): number {
  if (!Number.isFinite(value) || value < min || value > max) throw new ConfigError(`${name} must be in [${min}, ${max}], got ${value}`);
  return value;
}
