import { FailpointError, FailpointSpecError } from './errors.js';
export { StorageError } from './errors.js';
import { FAILPOINTS_MAX } from './limits.js';

/**
 * Named failpoints at every persist and apply boundary, to crash or pause the
 * process exactly there. etcd's worst bugs lived at these boundaries: a crash
 * between applying and recording the applied index let a member skip
 * entries; a crash during compaction let the revision go backwards.
 *
 * Switched on only by the environment, for test runs:
 *
 *     KEEL_FAILPOINTS="wal-after-fsync=crash@3,snapshot-after-rename=pause"
 *
 * Each entry is `name=action[@n]`. Actions: `crash` (SIGKILL to itself: no
 * cleanup, no flush, exactly like a power cut for the process), `pause`
 * (SIGSTOP to itself; resume it with SIGCONT), `throw` (a
 * {@link FailpointError}), `sleep(ms)` (blocks the thread). `@n` fires on the
 * n-th hit only; without it the action fires on every hit. Ignored when
 * `NODE_ENV=production`.
 *
 * When the variable is unset a failpoint costs one module-level boolean test.
 */
export const FAILPOINT_NAMES = [
  'wal-before-write',
  'wal-after-write',
  'wal-before-fsync',
  'wal-after-fsync',
  'wal-before-rotate',
  'wal-after-rotate',
  'apply-before',
  'apply-after',
  'snapshot-before-save',
  'snapshot-after-chunk',
  'snapshot-after-tmp-write',
  'snapshot-after-rename',
  'snapshot-before-install',
  'snapshot-after-install',
  'compaction-before',
  'compaction-between',
  'compaction-after',
] as const;
export type FailpointName = (typeof FAILPOINT_NAMES)[number];

export type FailpointAction =
  | { readonly kind: 'crash' }
  | { readonly kind: 'pause' }
  | { readonly kind: 'throw' }
  | { readonly kind: 'sleep'; readonly ms: number };

interface Rule {
  /** The rule as written (`crash@3`, `sleep(100)`), for listing. */
  readonly text: string;
  readonly action: FailpointAction;
  /** Fire on this hit only (1-based); 0 = every hit. */
  readonly onHit: number;
  hits: number;
}

let enabled = false;
let rules = new Map<string, Rule>();

/** Marks a boundary. Does nothing unless failpoints were configured. */
export function failpoint(name: FailpointName): void {
  if (!enabled) return;
  trigger(name);
}

/**
 * True when failpoints were configured. The async write path tests it before
 * awaiting {@link failpointAsync}: awaiting even a settled promise yields to
 * the microtasks queued before it, and a write submitted only after them
 * (the leader's peer sends, which run there) starts its fsync later.
 */
export function failpointsEnabled(): boolean {
  return enabled;
}

/**
 * The same boundary on the async write path: a `sleep(ms)` waits on a timer
 * instead of blocking the thread, so `wal-before-fsync=sleep(2)` models a
 * slow disk without stalling the event loop, as a real slow fsync on the
 * threadpool would not. Other actions behave as in {@link failpoint}.
 */
export async function failpointAsync(name: FailpointName): Promise<void> {
  if (!enabled) return;
  const rule = rules.get(name);
  if (rule?.action.kind !== 'sleep') return trigger(name);
  rule.hits++;
  if (rule.onHit !== 0 && rule.hits !== rule.onHit) return;
  await new Promise((resolve) => setTimeout(resolve, rule.action.kind === 'sleep' ? rule.action.ms : 0));
}

/**
 * Replaces the active failpoints with `spec` (the `KEEL_FAILPOINTS` syntax;
 * empty turns them off). For in-process tests; child processes use the
 * environment variable.
 */
export function configureFailpoints(spec: string): void {
  rules = parseFailpoints(spec);
  enabled = rules.size > 0;
}

export function parseFailpoints(spec: string): Map<string, Rule> {
  const parsed = new Map<string, Rule>();
  const items = spec.split(',').map((item) => item.trim()).filter((item) => item.length > 0);
  if (items.length > FAILPOINTS_MAX) throw new FailpointSpecError(spec, `more than ${FAILPOINTS_MAX} failpoints`);
  for (const item of items) {
    const match = /^([a-z-]+)=(crash|pause|throw|sleep\((\d+)\))(?:@(\d+))?$/.exec(item);
    if (!match) throw new FailpointSpecError(item, 'expected name=crash|pause|throw|sleep(ms)[@n]');
    const [, name, verb, sleepMs, onHit] = match;
    if (!(FAILPOINT_NAMES as readonly string[]).includes(name!)) throw new FailpointSpecError(item, `unknown failpoint ${name}`);
    const action: FailpointAction = sleepMs !== undefined ? { kind: 'sleep', ms: Number(sleepMs) } : { kind: verb as 'crash' | 'pause' | 'throw' };
    const hit = onHit === undefined ? 0 : Number(onHit);
    if (onHit !== undefined && hit < 1) throw new FailpointSpecError(item, '@n counts from 1');
    parsed.set(name!, { text: item.slice(name!.length + 1), action, onHit: hit, hits: 0 });
  }
  return parsed;
}

/**
 * Sets one failpoint on a running process (`action` in the KEEL_FAILPOINTS
 * syntax: crash, pause, throw, sleep(ms), each with an optional @n), or
 * clears it with `off`. The admin API (POST /debug/failpoints on the client
 * port) calls this when enabled; the others keep their rules.
 */
export function setFailpoint(name: string, action: string): void {
  if (!(FAILPOINT_NAMES as readonly string[]).includes(name)) throw new FailpointSpecError(name, `unknown failpoint ${name}`);
  if (action === 'off') {
    rules.delete(name);
  } else {
    const [rule] = parseFailpoints(`${name}=${action}`).values();
    if (rules.size >= FAILPOINTS_MAX && !rules.has(name)) throw new FailpointSpecError(name, `more than ${FAILPOINTS_MAX} failpoints`);
    rules.set(name, rule!);
  }
  enabled = rules.size > 0;
}

/** The active failpoints, name to rule text. */
export function listFailpoints(): Record<string, string> {
  return Object.fromEntries([...rules].map(([name, rule]) => [name, rule.text]));
}

let apiEnabled = process.env['KEEL_FAILPOINT_API'] === '1';

/**
 * Lets the client port's POST /debug/failpoints set failpoints at run time
 * (`keel node --enable-failpoint-api` or KEEL_FAILPOINT_API=1). Off by
 * default, and never with NODE_ENV=production: a failpoint crashes or stops
 * the member on purpose.
 */
export function enableFailpointApi(): void {
  apiEnabled = true;
}

export function failpointApiEnabled(): boolean {
  return apiEnabled && process.env['NODE_ENV'] !== 'production';
}

function trigger(name: FailpointName): void {
  const rule = rules.get(name);
  if (rule === undefined) return;
  rule.hits++;
  if (rule.onHit !== 0 && rule.hits !== rule.onHit) return;
  act(name, rule.action);
}

function act(name: FailpointName, action: FailpointAction): void {
  switch (action.kind) {
    case 'crash':
      process.kill(process.pid, 'SIGKILL');
      break;
    case 'pause':
      // Announce first so a test can tell "paused here" from "not yet there".
      process.stderr.write(`failpoint ${name} paused\n`);
      process.kill(process.pid, 'SIGSTOP');
      break;
    case 'throw':
      throw new FailpointError(name);
    case 'sleep':
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, action.ms);
      break;
  }
}

function configureFromEnvironment(): void {
  const spec = process.env['KEEL_FAILPOINTS'];
  if (spec === undefined || spec === '') return;
  if (process.env['NODE_ENV'] === 'production') {
    process.stderr.write('KEEL_FAILPOINTS ignored: NODE_ENV=production\n');
    return;
  }
  configureFailpoints(spec);
}

configureFromEnvironment();
