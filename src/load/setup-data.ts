/**
 * setup()'s return value on its way to the VUs. k6 sends it to every VU as
 * JSON; so does keel (with the job, to every worker and agent), so a value
 * JSON would silently change (a Date becomes a string, a Map `{}`, a
 * function vanishes, a cycle throws deep in a send) is refused here, naming
 * where it sits, and so is one too big to ship.
 */
import { LoadError } from './errors.js';
import { SETUP_DATA_BYTES_MAX, SETUP_DATA_DEPTH_MAX } from './limits.js';

/** The JSON text a job carries, or undefined when setup() returned nothing. */
export function encodeSetupData(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  checkJson(value, 'data', 0, new Set());
  const text = JSON.stringify(value);
  const bytes = Buffer.byteLength(text);
  if (bytes > SETUP_DATA_BYTES_MAX) throw notSendable(`${bytes} bytes of JSON; at most ${SETUP_DATA_BYTES_MAX} are sent to the workers`);
  return text;
}

/**
 * The value every VU of a worker receives: parsed once and frozen, since the
 * VUs share it (k6 gives each VU a copy; sharing one and freezing it costs
 * nothing per VU and makes a VU that writes to it fail loudly instead of
 * changing what the others see).
 */
export function decodeSetupData(text: string | undefined): unknown {
  return text === undefined ? undefined : deepFreeze(JSON.parse(text) as unknown);
}

function checkJson(value: unknown, path: string, depth: number, ancestors: Set<object>): void {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw notJson(path, String(value));
    return;
  }
  if (typeof value !== 'object') throw notJson(path, `a ${typeof value}`);
  if (depth >= SETUP_DATA_DEPTH_MAX) throw notSendable(`nested deeper than ${SETUP_DATA_DEPTH_MAX} at ${path}`);
  if (ancestors.has(value)) throw notJson(path, 'a cycle (it contains itself)');
  const prototype = Object.getPrototypeOf(value) as unknown;
  if (!Array.isArray(value) && prototype !== Object.prototype && prototype !== null) throw notJson(path, `a ${(value as { constructor?: { name?: string } }).constructor?.name ?? 'class instance'}, not a plain object`);
  ancestors.add(value);
  if (Array.isArray(value)) value.forEach((item: unknown, index) => checkJson(item, `${path}[${index}]`, depth + 1, ancestors));
  else
    for (const [key, item] of Object.entries(value)) {
      // JSON drops a property that is undefined, and so does the value the VUs get: nothing changes meaning.
      if (item !== undefined) checkJson(item, `${path}.${key}`, depth + 1, ancestors);
    }
  ancestors.delete(value);
}

function notJson(path: string, what: string): LoadError {
  return notSendable(`${path} is ${what}: return plain objects, arrays, strings, finite numbers, booleans or null`);
}

function notSendable(why: string): LoadError {
  return new LoadError('KEEL_LOAD_SETUP_FAILED', `setup() returned a value that cannot be sent to the VUs: ${why}`);
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const item of Object.values(value)) deepFreeze(item);
    Object.freeze(value);
  }
  return value;
}
