/**
 * Errors of the linearizability checker. Each has a stable `code`; callers
 * and tests match on the code, never the message. The brand survives
 * duplicate installs of the package, where `instanceof` would not.
 */
const BRAND = Symbol.for('keel.check.error');

export abstract class CheckError extends Error {
  abstract readonly code: string;
  readonly [BRAND] = true;
  static is(value: unknown): value is CheckError {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
  }
}

/** A line of a history file that cannot be read: `file`, 1-based `line` and what is wrong with it. */
export class MalformedLineError extends CheckError {
  readonly code = 'KEEL_CHECK_MALFORMED_LINE';
  constructor(readonly file: string, readonly line: number, readonly reason: string) {
    super(`${file}:${line}: ${reason}`);
    this.name = 'MalformedLineError';
  }
}

/** The events do not pair up: a completion with no open invocation, or an invocation while the process still has one open. */
export class UnpairedEventError extends CheckError {
  readonly code = 'KEEL_CHECK_UNPAIRED_EVENT';
  constructor(readonly file: string, readonly line: number, readonly reason: string) {
    super(`${file}:${line}: ${reason}`);
    this.name = 'UnpairedEventError';
  }
}

/** The file's format could not be recognised (auto-detection) or is not one of keel, jepsen, edn. */
export class UnknownFormatError extends CheckError {
  readonly code = 'KEEL_CHECK_UNKNOWN_FORMAT';
  constructor(readonly file: string, reason: string) {
    super(`${file}: ${reason}`);
    this.name = 'UnknownFormatError';
  }
}

/** The history holds an operation the chosen model does not know (a `cas` checked against the plain register, a `get` against a register). */
export class ModelMismatchError extends CheckError {
  readonly code = 'KEEL_CHECK_MODEL_MISMATCH';
  constructor(readonly model: string, readonly operation: string, readonly where: string) {
    super(`model ${model} has no operation ${operation} (${where})`);
    this.name = 'ModelMismatchError';
  }
}

/** The history exceeds a size limit (bytes, lines or operations); it is refused rather than read half-way. */
export class HistoryTooLargeError extends CheckError {
  readonly code = 'KEEL_CHECK_HISTORY_TOO_LARGE';
  constructor(readonly file: string, reason: string) {
    super(`${file}: ${reason}`);
    this.name = 'HistoryTooLargeError';
  }
}

/** Invalid options to the checker or the recorder (a negative budget, an empty key ...). */
export class CheckUsageError extends CheckError {
  readonly code = 'KEEL_CHECK_USAGE';
  constructor(message: string) {
    super(message);
    this.name = 'CheckUsageError';
  }
}
