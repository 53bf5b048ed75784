import type { ServerWritableStream, UntypedServiceImplementation } from '@grpc/grpc-js';
import type { KeelNode } from '../../node/keel-node.js';
import { BadRequestError } from '../errors.js';
import * as recipes from '../recipes.js';
import type { LeaderKey } from '../recipes.js';
import { bytesOf, header, int64Of, keyValue } from './codec.js';
import type { Message } from './codec.js';
import { grpcFailure, startRpc, unary } from './services.js';
import type { Handler } from './services.js';
import { guardRecipe } from '../auth/guard.js';

/** etcd's v3lock.Lock and v3election.Election services over api/recipes.ts. */

function leaderKeyOf(message: Message): LeaderKey {
  const leader = message.leader;
  if (typeof leader !== 'object' || leader === null) throw new BadRequestError('"leader" field must be provided');
  const fields = leader as Message;
  const rev = int64Of(fields, 'rev');
  if (rev <= 0n || rev > BigInt(Number.MAX_SAFE_INTEGER)) throw new BadRequestError('leader.rev must be a positive revision');
  return { name: bytesOf(fields, 'name'), key: bytesOf(fields, 'key'), rev: Number(rev), lease: int64Of(fields, 'lease') };
}

const LOCK: Record<string, Handler> = {
  Lock: async (node, request, timeoutMs, signal, caller) => {
    const authRevision = await guardRecipe(node, caller, bytesOf(request, 'name'));
    const result = await recipes.lock(node, bytesOf(request, 'name'), int64Of(request, 'lease'), signal(), timeoutMs, authRevision);
    return { header: header(result.header.revision, node.headerContext()), key: Buffer.from(result.key) };
  },
  Unlock: async (node, request, timeoutMs, _signal, caller) => {
    const authRevision = await guardRecipe(node, caller, bytesOf(request, 'key'));
    const result = await recipes.unlock(node, bytesOf(request, 'key'), timeoutMs, authRevision);
    return { header: header(result.header.revision, node.headerContext()) };
  },
};

const ELECTION: Record<string, Handler> = {
  Campaign: async (node, request, timeoutMs, signal, caller) => {
    const authRevision = await guardRecipe(node, caller, bytesOf(request, 'name'));
    const result = await recipes.campaign(node, bytesOf(request, 'name'), int64Of(request, 'lease'), bytesOf(request, 'value'), signal(), timeoutMs, authRevision);
    const { leader } = result;
    return {
      header: header(result.header.revision, node.headerContext()),
      leader: { name: Buffer.from(leader.name), key: Buffer.from(leader.key), rev: String(leader.rev), lease: leader.lease.toString() },
    };
  },
  Proclaim: async (node, request, timeoutMs, _signal, caller) => {
    const authRevision = await guardRecipe(node, caller, leaderKeyOf(request).name);
    const result = await recipes.proclaim(node, leaderKeyOf(request), bytesOf(request, 'value'), timeoutMs, authRevision);
    return { header: header(result.header.revision, node.headerContext()) };
  },
  Resign: async (node, request, timeoutMs, _signal, caller) => {
    const authRevision = await guardRecipe(node, caller, leaderKeyOf(request).name);
    const result = await recipes.resign(node, leaderKeyOf(request), timeoutMs, authRevision);
    return { header: header(result.header.revision, node.headerContext()) };
  },
  Leader: async (node, request, timeoutMs, _signal, caller) => {
    await guardRecipe(node, caller, bytesOf(request, 'name'));
    const result = await recipes.leader(node, bytesOf(request, 'name'), timeoutMs);
    return { header: header(result.header.revision, node.headerContext()), kv: keyValue(result.kv) };
  },
};

function observeCall(node: KeelNode) {
  return (call: ServerWritableStream<Message, Message>): void => {
    const rpc = startRpc(node, '/v3electionpb.Election/Observe', 'server_stream');
    rpc.received();
    const controller = new AbortController();
    call.once('cancelled', () => {
      rpc.handled(1, 'CANCELLED');
      controller.abort();
    });
    call.once('close', () => controller.abort());
    let name: Uint8Array;
    try {
      name = bytesOf(call.request, 'name');
      void recipes
        .observe(node, name, (update) => {
          if (call.writableEnded) return;
          rpc.sent();
          call.write({ header: header(update.header.revision, node.headerContext()), kv: keyValue(update.kv) });
        }, controller.signal)
        .then(() => {
          rpc.handled(0, 'OK');
          if (!call.writableEnded) call.end();
        });
    } catch (error) {
      call.emit('error', grpcFailure(rpc, error));
    }
  };
}

export function recipeImplementations(node: KeelNode): { Lock: UntypedServiceImplementation; Election: UntypedServiceImplementation } {
  const bind = (service: string, handlers: Record<string, Handler>): UntypedServiceImplementation =>
    Object.fromEntries(Object.entries(handlers).map(([method, handler]) => [method, unary(node, `/${service}/${method}`, handler)]));
  return { Lock: bind('v3lockpb.Lock', LOCK), Election: { ...bind('v3electionpb.Election', ELECTION), Observe: observeCall(node) } };
}
