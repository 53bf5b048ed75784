/**
 * The IPC messages between the primary and its workers (`keel gateway
 * --workers N`), over node:cluster's channel (JSON). Every kind is listed
 * here; each carries `keel` so other users of the channel (prom-client,
 * node's own cluster messages) are told apart. Calls carry an `id` the
 * answer repeats.
 */

/** Worker → primary: permits for one rule and key (a lease of up to `batch` permits, at least `permits`). */
export interface LeaseRequest {
  readonly keel: 'lease';
  readonly id: number;
  /** The rule's config as JSON (ruleSignature): the primary builds the rule's limiter from it the first time it sees it. */
  readonly signature: string;
  readonly key: string;
  readonly permits: number;
  readonly batch: number;
}

/** Worker → primary: permits of a lease that lapsed unspent, given back (limiters that support it take them back). */
export interface LeaseReturn {
  readonly keel: 'return';
  readonly signature: string;
  readonly key: string;
  readonly permits: number;
}

/** Primary → worker: the lease (`granted` permits, 0 when refused). */
export interface LeaseGrant {
  readonly keel: 'grant';
  readonly id: number;
  readonly granted: number;
  /** The primary's permits left for the key after this grant. */
  readonly remaining: number;
  /** When refused: ms until `permits` would be granted. */
  readonly retryAfterMs: number;
}

/** Worker → primary: its message handler is in place; send the config. */
export interface HelloMessage {
  readonly keel: 'hello';
}

/** Primary → worker: the config text to start with (the primary read and validated it). */
export interface ConfigMessage {
  readonly keel: 'config';
  readonly text: string;
}

/** Worker → primary: its listeners are bound. */
export interface ReadyMessage {
  readonly keel: 'ready';
  readonly ports: readonly number[];
}

/** Primary → worker: a call (reload to this config text, the admin view, metrics). */
export type WorkerCall =
  | { readonly keel: 'reload'; readonly id: number; readonly text: string }
  | { readonly keel: 'describe'; readonly id: number }
  | { readonly keel: 'metrics'; readonly id: number };

/** Worker → primary: the answer to a WorkerCall. */
export interface WorkerAnswer {
  readonly keel: 'answer';
  readonly id: number;
  readonly ok: boolean;
  readonly error?: string;
  readonly body?: unknown;
}

export type ToPrimary = HelloMessage | LeaseRequest | LeaseReturn | ReadyMessage | WorkerAnswer;
export type ToWorker = LeaseGrant | ConfigMessage | WorkerCall;

function kindOf(message: unknown): unknown {
  return typeof message === 'object' && message !== null ? (message as { keel?: unknown }).keel : undefined;
}

const TO_PRIMARY = new Set(['hello', 'lease', 'return', 'ready', 'answer']);
const TO_WORKER = new Set(['grant', 'config', 'reload', 'describe', 'metrics']);

export function isToPrimary(message: unknown): message is ToPrimary {
  return TO_PRIMARY.has(kindOf(message) as string);
}

export function isToWorker(message: unknown): message is ToWorker {
  return TO_WORKER.has(kindOf(message) as string);
}
