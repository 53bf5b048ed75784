import { credentials, Metadata } from '@grpc/grpc-js';
import type { Client, ServiceError } from '@grpc/grpc-js';
import { etcdServices } from '../../src/api/grpc/proto.js';
import type { Message } from '../../src/api/grpc/codec.js';

/**
 * A raw etcdserverpb client over keel's own proto files, for tests that
 * need exact requests and responses (the differential test, bad input).
 */
export interface RawEtcd {
  call(service: 'KV' | 'Maintenance' | 'Cluster' | 'Lease' | 'Lock' | 'Election', method: string, request: Message, timeoutMs?: number): Promise<Message>;
  close(): void;
}

export function rawEtcd(address: string): RawEtcd {
  const services = etcdServices();
  const clients = new Map<string, Client>();
  const clientOf = (service: 'KV' | 'Maintenance' | 'Cluster' | 'Lease' | 'Lock' | 'Election'): Client => {
    let client = clients.get(service);
    if (!client) {
      client = new services[service](address, credentials.createInsecure(), { 'grpc.max_send_message_length': -1, 'grpc.max_receive_message_length': -1 });
      clients.set(service, client);
    }
    return client;
  };
  return {
    call: (service, method, request, timeoutMs = 5_000) =>
      new Promise((resolve, reject) => {
        const client = clientOf(service) as unknown as Record<string, (r: Message, m: Metadata, o: object, cb: (e: ServiceError | null, v: Message) => void) => void>;
        const fn = client[method];
        if (!fn) return reject(new Error(`no method ${method}`));
        fn.call(client, request, new Metadata(), { deadline: Date.now() + timeoutMs }, (error, value) => (error ? reject(error) : resolve(value)));
      }),
    close: () => {
      for (const client of clients.values()) client.close();
    },
  };
}

/**
 * One raw Watch stream that the test drives: it decides every request
 * (start revisions included) and can stop reading (`pause`) to starve the
 * member's side of the stream. Responses are kept in arrival order.
 */
export interface RawWatch {
  readonly responses: Message[];
  /** Set when the stream failed (the member died, or refused the stream). */
  readonly error: Error | undefined;
  write(request: Message): void;
  pause(): void;
  resume(): void;
  close(): void;
}

export function rawWatch(address: string): RawWatch {
  const services = etcdServices();
  const client = new services.Watch(address, credentials.createInsecure(), { 'grpc.max_receive_message_length': -1 });
  const call = (client as unknown as { Watch(): import('@grpc/grpc-js').ClientDuplexStream<Message, Message> }).Watch();
  const responses: Message[] = [];
  let failure: Error | undefined;
  call.on('data', (response: Message) => responses.push(response));
  call.on('error', (error: Error) => (failure = error));
  return {
    responses,
    get error() {
      return failure;
    },
    write: (request) => void call.write(request),
    pause: () => void call.pause(),
    resume: () => void call.resume(),
    close: () => {
      call.cancel();
      client.close();
    },
  };
}
