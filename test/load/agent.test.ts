import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { freeLoopbackPorts } from '../../bench/lib/net.js';
import { agentLinks } from '../../src/load/agent.js';
import { encodeFrame, FrameDecoder } from '../../src/load/frames.js';
import { runLoad } from '../../src/load/index.js';

const main = join(import.meta.dirname, '../../src/cli/main.ts');
const fixtures = join(import.meta.dirname, 'fixtures');
let target: Server;
let targetUrl: string;
const agents: { process: ChildProcess; address: string; output: string[] }[] = [];

function quiet(): Writable {
  return new Writable({ write: (_chunk, _encoding, done) => done() });
}

async function until(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function startAgent(): Promise<{ process: ChildProcess; address: string; output: string[] }> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const [port] = await freeLoopbackPorts(1);
    const address = `127.0.0.1:${port}`;
    const child = spawn(process.execPath, ['--import', 'tsx', main, 'load', 'agent', '--listen', address], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, KEEL_LOAD_TEST_TARGET: targetUrl } });
    const output: string[] = [];
    child.stderr!.on('data', (chunk) => output.push(String(chunk)));
    let exited = false;
    child.once('exit', () => (exited = true));
    await until(() => exited || output.join('').includes('listening'), 60_000, `agent on ${address}`);
    if (!exited) return { process: child, address, output };
  }
  throw new Error('no agent could start');
}

before(async () => {
  target = createServer((_request, response) => response.end('ok'));
  await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
  targetUrl = `http://127.0.0.1:${(target.address() as { port: number }).port}/`;
  agents.push(await startAgent(), await startAgent());
});

after(async () => {
  for (const agent of agents) agent.process.kill('SIGKILL');
  target.closeAllConnections();
  await new Promise((resolve) => target.close(resolve));
});

test('frames: whole, split across chunks, oversized, not JSON, truncated', () => {
  const decoder = new FrameDecoder();
  const first = encodeFrame({ type: 'stop' });
  const frame = Buffer.concat([first, encodeFrame({ type: 'start', atEpochMs: 5 })]);
  assert.deepEqual(decoder.push(frame.subarray(0, 3)), []);
  assert.deepEqual(decoder.push(frame.subarray(3, first.length + 2)), [{ type: 'stop' }]);
  assert.deepEqual(decoder.push(frame.subarray(first.length + 2)), [{ type: 'start', atEpochMs: 5 }]);
  decoder.end();
  const huge = Buffer.alloc(4);
  huge.writeUInt32BE(0xffffffff, 0);
  assert.throws(() => new FrameDecoder().push(huge), (error: { code: string }) => error.code === 'KEEL_LOAD_PROTOCOL');
  const garbage = Buffer.concat([Buffer.from([0, 0, 0, 3]), Buffer.from('{{{')]);
  assert.throws(() => new FrameDecoder().push(garbage), /not JSON/);
  const truncated = new FrameDecoder();
  truncated.push(encodeFrame({ type: 'stop' }).subarray(0, 8));
  assert.throws(() => truncated.end(), /ended inside a frame/);
});

test('two agents, separate processes, run the shares of one scenario and send histograms back', { timeout: 180_000 }, async () => {
  const links = await agentLinks(agents.map((agent) => agent.address));
  const result = await runLoad({ scenarioFile: join(fixtures, 'checks.ts'), links, output: quiet(), progress: false });
  assert.equal(result.summary.lostWorkers.length, 0);
  assert.equal(result.summary.counters.http_reqs?.count, 20);
  assert.equal(result.summary.trends.http_req_duration?.count, 20);
  assert.equal(result.exitCode, 0);
});

test('bad and truncated input: the agent answers a protocol error, closes, and keeps serving', { timeout: 120_000 }, async () => {
  const [host, port] = agents[0]!.address.split(':') as [string, string];
  const exchange = (bytes: Buffer, endAfter: boolean): Promise<unknown[]> =>
    new Promise((resolve, reject) => {
      const socket = connect(Number(port), host);
      const decoder = new FrameDecoder();
      const replies: unknown[] = [];
      socket.on('data', (chunk) => replies.push(...decoder.push(chunk)));
      socket.on('error', reject);
      socket.on('close', () => resolve(replies));
      socket.write(bytes);
      if (endAfter) socket.end();
      setTimeout(() => socket.destroy(), 20_000).unref();
    });
  const notJson = await exchange(Buffer.concat([Buffer.from([0, 0, 0, 5]), Buffer.from('hello')]), false);
  assert.equal((notJson[0] as { code: string }).code, 'KEEL_LOAD_PROTOCOL');
  const oversized = Buffer.alloc(4);
  oversized.writeUInt32BE(0x7fffffff, 0);
  assert.match(((await exchange(oversized, false))[0] as { message: string }).message, /over the limit/);
  assert.match(((await exchange(encodeFrame({ type: 'dance' }), false))[0] as { message: string }).message, /not a coordinator message/);
  assert.deepEqual(await exchange(encodeFrame({ type: 'stop' }).subarray(0, 7), true), []);
  await until(() => agents[0]!.output.join('').includes('stream ended inside a frame'), 10_000, 'the agent to log the truncation');
  const links = await agentLinks([agents[0]!.address]);
  const result = await runLoad({ scenarioFile: join(fixtures, 'checks.ts'), links, output: quiet(), progress: false });
  assert.equal(result.summary.counters.http_reqs?.count, 20, 'the agent still serves');
});

test('a lost agent is reported, not waited for', { timeout: 180_000 }, async () => {
  const links = await agentLinks(agents.map((agent) => agent.address));
  const victim = agents[1]!;
  const running = runLoad({ scenarioFile: join(fixtures, 'many-vus.ts'), links, output: quiet(), progress: false, overrides: { vus: 10, duration: '8s' } });
  // Kill it once it is running (its first snapshot has had time to arrive).
  await new Promise((resolve) => setTimeout(resolve, 3_000));
  victim.process.kill('SIGKILL');
  const result = await running;
  assert.equal(result.summary.lostWorkers.length, 1);
  assert.match(result.summary.lostWorkers[0]!, new RegExp(`agent ${victim.address}`));
  assert.equal(result.exitCode, 1);
  assert.ok((result.summary.counters.http_reqs?.count ?? 0) > 0);
});
