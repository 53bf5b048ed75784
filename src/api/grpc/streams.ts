import type { ServerDuplexStream } from '@grpc/grpc-js';
import type { KeelNode } from '../../node/keel-node.js';
import type { WatchSink, WatchStream } from '../../store/watch-hub.js';
import { OverloadedError } from '../errors.js';
import { header, leaseIdField, watchAction, watchResponse } from './codec.js';
import type { Message } from './codec.js';
import { grpcFailure, startRpc } from './services.js';
import type { RpcCall } from '../../node/rpc-metrics.js';
import { Caller, callerOfGrpcStream, watchPermitted } from '../auth/guard.js';
import type { WatchCreate } from '../../store/watch-hub.js';
import { guardOpenWatches, PERMISSION_DENIED_REASON, revokeForbiddenWatches } from '../auth/watch-revocation.js';

/**
 * etcd's two bidirectional streams: Watch and LeaseKeepAlive. Both end when
 * the client ends them, when the member stops (so a graceful shutdown does
 * not wait on them), or with an error status on bad input; none of these
 * can take the member down.
 */

/** Watch streams one member serves at once; more are refused with RESOURCE_EXHAUSTED. */
export const WATCH_STREAMS_MAX = 10_000;
/** Keep-alives of one stream waiting to be answered; a client that sends faster than they are answered is cut off. */
const KEEPALIVES_QUEUED_MAX = 1_024;

type Duplex = ServerDuplexStream<Message, Message>;

function failCall(call: Duplex, rpc: RpcCall, error: unknown): void {
  call.emit('error', grpcFailure(rpc, error));
}

/** A stream the client cancelled, or that went away without ending, is counted as go-grpc-prometheus counts it: Canceled. */
function countEnd(call: Duplex, rpc: RpcCall): void {
  call.on('end', () => rpc.handled(0, 'OK'));
  call.on('cancelled', () => rpc.handled(1, 'CANCELLED'));
  call.on('close', () => rpc.handled(1, 'CANCELLED'));
}

export function watchCall(node: KeelNode) {
  return (call: Duplex): void => {
    const rpc = startRpc(node, '/etcdserverpb.Watch/Watch', 'bidi_stream');
    if (node.watchHub.streams.size >= WATCH_STREAMS_MAX) {
      failCall(call, rpc, new OverloadedError(`more than ${WATCH_STREAMS_MAX} watch streams`, 1));
      return;
    }
    countEnd(call, rpc);
    let stream: WatchStream | undefined;
    const sink: WatchSink = {
      send: (response, bytes) => {
        if (call.destroyed || call.writableEnded) return;
        rpc.sent();
        call.write(watchResponse(response, node.headerContext()), () => stream?.released(bytes));
      },
    };
    stream = node.watchHub.open(sink);
    const caller = callerOfGrpcStream(node, call);
    const unguard = guardOpenWatches(node, caller, stream);
    let finished = false;
    const finish = (): void => {
      if (finished) return;
      finished = true;
      stream?.close();
      unguard();
      unregister();
    };
    const unregister = node.onStop(() => {
      finish();
      rpc.handled(0, 'OK');
      if (!call.writableEnded) call.end();
    });
    call.on('data', (message: Message) => {
      if (finished) return;
      rpc.received();
      try {
        const action = watchAction(message);
        if (action.type === 'create') createPermitted(node, caller, stream!, sink, action.request, () => finished);
        else if (action.type === 'cancel') stream!.cancel(action.watchId);
        else stream!.requestProgress();
      } catch (error) {
        finish();
        failCall(call, rpc, error);
      }
    });
    call.on('end', () => {
      finish();
      if (!call.writableEnded) call.end();
    });
    call.on('cancelled', finish);
    call.on('close', finish);
    call.on('error', finish);
  };
}

/**
 * Creates a watch once the caller may read its range; otherwise answers as
 * etcd does: a response that is created and canceled at once, watch id -1,
 * cancel_reason "etcdserver: permission denied". With auth off the watch is
 * created synchronously, as before (creates keep their order on the stream).
 */
export function createPermitted(node: KeelNode, caller: Caller, stream: WatchStream, sink: WatchSink, request: WatchCreate, finished: () => boolean): void {
  if (!node.auth.enabled) {
    stream.create(request);
    return;
  }
  const checkedAt = node.auth.revision;
  void watchPermitted(node, caller, request.key, request.rangeEnd).then((permitted) => {
    if (finished()) return;
    if (!permitted) {
      sink.send({ watchId: -1n, revision: node.status().revision, created: true, canceled: true, cancelReason: PERMISSION_DENIED_REASON, events: [] }, 0);
      return;
    }
    stream.create(request);
    // The auth revision moved while the check was in flight: the re-check of open watches may have run before this one existed.
    if (node.auth.revision !== checkedAt) revokeForbiddenWatches(node, caller, stream);
  });
}

export function keepAliveCall(node: KeelNode) {
  return (call: Duplex): void => {
    const rpc = startRpc(node, '/etcdserverpb.Lease/LeaseKeepAlive', 'bidi_stream');
    countEnd(call, rpc);
    let queued = 0;
    let chain = Promise.resolve();
    let finished = false;
    const finish = (): void => {
      finished = true;
      unregister();
    };
    const unregister = node.onStop(() => {
      finish();
      rpc.handled(0, 'OK');
      if (!call.writableEnded) call.end();
    });
    call.on('data', (message: Message) => {
      if (finished) return;
      rpc.received();
      if (queued >= KEEPALIVES_QUEUED_MAX) {
        finish();
        failCall(call, rpc, new OverloadedError(`more than ${KEEPALIVES_QUEUED_MAX} keep-alives queued on one stream`, 1));
        return;
      }
      queued++;
      chain = chain.then(async () => {
        try {
          if (finished) return;
          const id = leaseIdField(message);
          const ttl = await node.leaseRenew(id, false);
          if (finished || call.writableEnded) return;
          rpc.sent();
          call.write({ header: header(node.status().revision, node.headerContext()), ID: id.toString(), TTL: String(ttl) });
        } catch (error) {
          if (finished) return;
          finish();
          failCall(call, rpc, error);
        } finally {
          queued--;
        }
      });
    });
    call.on('end', () => {
      void chain.then(() => {
        finish();
        if (!call.writableEnded) call.end();
      });
    });
    call.on('cancelled', finish);
    call.on('error', finish);
  };
}
