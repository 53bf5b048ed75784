import { StoreStateMachine, encodeCommand } from '../../src/store/index.js';
import type { ApplyResult, Command, CommandResponse, KeyValue } from '../../src/store/index.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function bytes(text: string): Uint8Array {
  return encoder.encode(text);
}

export function text(value: Uint8Array | undefined): string {
  return value === undefined ? '<undefined>' : decoder.decode(value);
}

/** A KeyValue in a readable form for deepStrictEqual. */
export function plain(kv: KeyValue): { key: string; value: string; create: number; mod: number; version: number; lease: bigint } {
  return { key: text(kv.key), value: text(kv.value), create: kv.createRevision, mod: kv.modRevision, version: kv.version, lease: kv.lease };
}

/** A state machine fed with consecutive log indexes. */
export class Harness {
  readonly machine: StoreStateMachine;
  index = 0;

  constructor(machine = new StoreStateMachine()) {
    this.machine = machine;
  }

  apply(command: Command): ApplyResult {
    return this.machine.apply(++this.index, encodeCommand(command));
  }

  /** Applies and returns the response, failing the test on rejection. */
  ok(command: Command): CommandResponse {
    const result = this.apply(command);
    if (result.status !== 'applied') throw new Error(`expected applied, got ${result.status}: ${result.status === 'rejected' ? result.error.message : ''}`);
    return result.response;
  }

  /** Applies and returns the error code of the rejection. */
  rejected(command: Command): string {
    const result = this.apply(command);
    if (result.status !== 'rejected') throw new Error(`expected rejected, got ${result.status}`);
    return result.error.code;
  }

  put(key: string, value: string, extra: { lease?: bigint; prevKv?: boolean } = {}): CommandResponse {
    return this.ok({ type: 'put', request: { key: bytes(key), value: bytes(value), ...extra } });
  }

  del(key: string, rangeEnd?: string): CommandResponse {
    return this.ok({ type: 'deleteRange', request: { key: bytes(key), ...(rangeEnd === undefined ? {} : { rangeEnd: bytes(rangeEnd) }) } });
  }

  /** Keys and values of a range, as "key=value" strings. */
  list(key: string, rangeEnd?: string, revision?: number): string[] {
    const response = this.machine.range({ key: bytes(key), ...(rangeEnd === undefined ? {} : { rangeEnd: bytes(rangeEnd) }), ...(revision === undefined ? {} : { revision }) });
    return response.kvs.map((kv) => `${text(kv.key)}=${text(kv.value)}`);
  }
}

type ResponseByType = { [C in CommandResponse as C['type']]: C['response'] };

/** Narrows a command response to its variant, failing otherwise. */
export function responseOf<T extends CommandResponse['type']>(response: CommandResponse, type: T): ResponseByType[T] {
  if (response.type !== type) throw new Error(`expected ${type}, got ${response.type}`);
  return response.response as ResponseByType[T];
}
