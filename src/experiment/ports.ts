import { createServer } from 'node:net';
import { ExperimentError } from './errors.js';

/** Free loopback ports for the clusters an experiment starts. */

/** Below this, ports are left to well-known services; above the pool's top, the kernel's ephemeral range. */
const PORT_POOL_LOW = 10_000;
const PORT_POOL_HIGH = 30_000;
const PORT_ATTEMPTS_MAX = 200;

export function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

const randomPort = (): number => PORT_POOL_LOW + Math.floor(Math.random() * (PORT_POOL_HIGH - PORT_POOL_LOW));

export async function freePorts(count: number): Promise<number[]> {
  const ports: number[] = [];
  for (let attempt = 0; ports.length < count && attempt < PORT_ATTEMPTS_MAX; attempt++) {
    const port = randomPort();
    if (!ports.includes(port) && (await canBind(port))) ports.push(port);
  }
  if (ports.length < count) throw new ExperimentError('KEEL_EXPERIMENT_CLUSTER', `no ${count} free loopback ports`);
  return ports;
}

