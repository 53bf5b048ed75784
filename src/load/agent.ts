import type { WorkerLink } from './links.js';
export async function agentLinks(_addresses: readonly string[], _allowRemote: readonly string[]): Promise<WorkerLink[]> {
  throw new Error('agents: not yet');
}
