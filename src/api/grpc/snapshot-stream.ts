import { createHash } from 'node:crypto';
import type { ServerWritableStream } from '@grpc/grpc-js';
import { callerOfGrpcStream, guardAdmin } from '../auth/guard.js';
import type { KeelNode } from '../../node/keel-node.js';
import { backupContentParts } from '../../node/backup.js';
import { OverloadedError } from '../errors.js';
import { header } from '../json-codec.js';
import { SNAPSHOT_CHUNK_BYTES, SNAPSHOT_STREAMS_MAX } from '../limits.js';
import type { Message } from './codec.js';
import { grpcFailure, startRpc } from './services.js';
import type { RpcCall } from '../../node/rpc-metrics.js';

/**
 * Maintenance.Snapshot, server streaming, as etcd's: the member's store
 * state in chunks of at most SNAPSHOT_CHUNK_BYTES, each with the bytes that
 * remain after it, then one last message whose blob is the SHA-256 of all
 * the content before it (etcd appends it so `etcdctl snapshot save` files
 * carry their own integrity check; `keel snapshot save/restore` verify it).
 *
 * The content is a keel backup (src/node/backup.ts) around
 * StoreStateMachine.snapshot(): the whole applied state (keys with their
 * retained history, leases, alarms, revisions), taken in one synchronous
 * step so it is consistent. It is not a bbolt file: etcd's own `snapshot restore`
 * cannot read it, keel's can. Writes wait for the client to drain (the
 * stream's backpressure), so a slow reader costs memory only for the one
 * copy of the state, and at most SNAPSHOT_STREAMS_MAX run at once.
 */

let active = 0;

/** Takes one of the SNAPSHOT_STREAMS_MAX slots (gRPC and JSON share them); returns its release, or throws OverloadedError. */
export function snapshotSlot(): () => void {
  if (active >= SNAPSHOT_STREAMS_MAX) throw new OverloadedError(`more than ${SNAPSHOT_STREAMS_MAX} snapshot streams at once`, 1);
  active++;
  let released = false;
  return () => {
    if (!released) active--;
    released = true;
  };
}

export function snapshotHandler(node: KeelNode) {
  return (call: ServerWritableStream<Message, Message>): void => {
    const rpc = startRpc(node, '/etcdserverpb.Maintenance/Snapshot', 'server_stream');
    rpc.received();
    // A snapshot holds every key and the password hashes: root only once auth is on.
    guardAdmin(node, callerOfGrpcStream(node, call)).then(
      () => streamSnapshot(node, call, rpc),
      (error: unknown) => fail(call, rpc, error),
    );
  };
}

function streamSnapshot(node: KeelNode, call: ServerWritableStream<Message, Message>, rpc: RpcCall): void {
  {
    let release: () => void;
    let snapshot: { bytes: Uint8Array; revision: number };
    try {
      release = snapshotSlot();
    } catch (error) {
      fail(call, rpc, error);
      return;
    }
    try {
      snapshot = node.storeSnapshot();
    } catch (error) {
      release();
      fail(call, rpc, error);
      return;
    }
    send(node, call, snapshot, rpc).then(
      () => rpc.handled(0, 'OK'),
      (error: unknown) => fail(call, rpc, error),
    ).finally(release);
  }
}

async function send(node: KeelNode, call: ServerWritableStream<Message, Message>, snapshot: { bytes: Uint8Array; revision: number }, rpc: RpcCall): Promise<void> {
  let cancelled = false;
  call.on('cancelled', () => {
    cancelled = true;
    rpc.handled(1, 'CANCELLED');
  });
  const parts = backupContentParts(snapshot.bytes);
  const total = parts.reduce((sum, part) => sum + part.length, 0);
  const hash = createHash('sha256');
  let sent = 0;
  for (const chunk of chunksOf(parts, SNAPSHOT_CHUNK_BYTES)) {
    if (cancelled) return;
    hash.update(chunk);
    const message: Message = { remaining_bytes: String(total - sent - chunk.length), blob: chunk };
    if (sent === 0) message.header = header(snapshot.revision, node.headerContext());
    sent += chunk.length;
    rpc.sent();
    if (!call.write(message)) await drained(call);
  }
  if (cancelled) return;
  rpc.sent();
  call.write({ remaining_bytes: '0', blob: hash.digest() });
  call.end();
}

/** Consecutive pieces of at most `size` bytes across `parts`; only a piece that spans two parts is copied. */
export function* chunksOf(parts: readonly Uint8Array[], size: number): Generator<Buffer> {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  for (const part of parts) {
    for (let offset = 0; offset < part.length; ) {
      const take = Math.min(size - pendingBytes, part.length - offset);
      pending.push(Buffer.from(part.buffer, part.byteOffset + offset, take));
      pendingBytes += take;
      offset += take;
      if (pendingBytes === size) {
        yield pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingBytes);
        pending = [];
        pendingBytes = 0;
      }
    }
  }
  if (pendingBytes > 0) yield pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingBytes);
}

/** Resolves when the stream can take more, or is gone (cancelled, closed, failed). */
function drained(call: ServerWritableStream<Message, Message>): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      call.off('drain', done);
      call.off('cancelled', done);
      call.off('close', done);
      call.off('error', done);
      resolve();
    };
    call.on('drain', done);
    call.on('cancelled', done);
    call.on('close', done);
    call.on('error', done);
  });
}

function fail(call: ServerWritableStream<Message, Message>, rpc: RpcCall, error: unknown): void {
  call.emit('error', grpcFailure(rpc, error));
}
