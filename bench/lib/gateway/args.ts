/** `--name N` from the command line, else `fallback`. */
export function numberArgument(name: string, fallback: number): number {
  const index = process.argv.indexOf(`--${name}`);
  const value = index >= 0 ? Number(process.argv[index + 1]) : fallback;
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} must be a positive number`);
  return value;
}

/** Whether `--name` is on the command line. */
export function flagArgument(name: string): boolean {
  return process.argv.includes(`--${name}`);
}

/** `--name 1,2` from the command line (distinct whole numbers from 1 to `max`, in the order given), else `fallback`. */
export function countListArgument(name: string, fallback: readonly number[], max: number): number[] {
  const index = process.argv.indexOf(`--${name}`);
  if (index < 0) return [...fallback];
  const values = String(process.argv[index + 1]).split(',').map(Number);
  if (values.some((value) => !Number.isInteger(value) || value < 1 || value > max) || new Set(values).size !== values.length) {
    throw new Error(`--${name} must be distinct whole numbers from 1 to ${max}, comma-separated`);
  }
  return values;
}

/** `--name VALUE` from the command line, else undefined. */
export function stringArgument(name: string): string | undefined {
  const index = process.argv.indexOf(`--${name}`);
  if (index < 0) return undefined;
  const value = process.argv[index + 1];
  if (value === undefined || value.startsWith('--')) throw new Error(`--${name} needs a value`);
  return value;
}
