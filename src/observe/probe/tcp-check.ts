import { connect } from 'node:net';
import type { TcpCheckSpec } from './config.js';
import { splitAddress } from './config.js';
import { describeError, fail, pass, type Outcome } from './result.js';

/** A TCP check passes when a connection is established; it is closed at once. */
export function runTcpCheck(spec: TcpCheckSpec, signal: AbortSignal): Promise<Outcome> {
  const { host, port } = splitAddress(spec.address)!;
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    const onAbort = (): void => {
      socket.destroy();
      reject(signal.reason as Error);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    const settle = (outcome: Outcome): void => {
      signal.removeEventListener('abort', onAbort);
      socket.destroy();
      resolve(outcome);
    };
    socket.once('connect', () => settle(pass()));
    socket.once('error', (error) => settle(fail(describeError(error))));
  });
}
