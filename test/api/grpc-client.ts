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
