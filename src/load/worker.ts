/**
 * The entry of a forked worker process: a WorkerSession over IPC. It exits
 * when its run is done, or when its coordinator goes away.
 */
import { isToWorker, type FromWorker } from './messages.js';
import { WorkerSession } from './session.js';

if (process.send === undefined) {
  console.error('keel load worker: start me with child_process.fork (I speak over IPC)');
  process.exit(1);
}
let lastSend: Promise<void> = Promise.resolve();
const send = (message: FromWorker): void => {
  if (!process.connected) return;
  lastSend = new Promise((resolve) => process.send!(message, undefined, {}, () => resolve()));
};
const session = new WorkerSession(send);
process.on('message', (message) => {
  if (isToWorker(message)) session.handle(message);
});
// The coordinator died or closed the channel: stop rather than load a target for nobody.
process.on('disconnect', () => session.handle({ type: 'stop' }));
process.on('SIGINT', () => undefined); // Ctrl-C reaches the whole group; the coordinator decides.
// A bug that escapes (a throw in a socket callback, a rejection nobody awaited) would end this process
// with its reason only on stderr; tell the coordinator why, so the summary's "lost" line names it.
const crashed = (error: unknown): void => {
  const text = error instanceof Error ? (error.stack ?? error.message) : String(error);
  send({ type: 'failed', code: 'KEEL_LOAD_WORKER_LOST', message: `crashed: ${text.split('\n').slice(0, 4).join(' | ').slice(0, 600)}` });
  console.error('keel load worker crashed:', error);
  void lastSend.finally(() => process.exit(70));
  setTimeout(() => process.exit(70), 1000).unref();
};
process.on('uncaughtException', crashed);
process.on('unhandledRejection', crashed);
await session.finished;
// Let the last message drain through the channel before exiting.
await lastSend;
if (process.connected) process.disconnect();
