import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freeLoopbackPorts } from '../../../bench/lib/net.js';
import { gatewayConfig, type MemberPlan } from '../../../src/cli/up.js';
import { startDashboard, ClusterFileTargets, type Dashboard, type DashboardState } from '../../../src/observe/dashboard/index.js';
import { Cluster, eventually, sleep } from '../../node/cluster-harness.js';
import type { Browser, Page } from 'playwright-core';

/**
 * The dashboard in real headless Chromium against real processes: a
 * 3-member cluster, a keel gateway in front of it with traffic through it,
 * and the dashboard server reading a cluster.json as keel up writes it.
 * The SLO panel evaluates examples/slo/keel.yaml. SIGKILL the leader: its tile turns red (data-health="down") and the
 * leader badge moves to another member. Nothing is mocked.
 */
const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync'];
const bin = join(import.meta.dirname, '../../../dist/src/cli/main.js');
const ZONES = ['a', 'b', 'c'];
/** Generous: CI is a loaded 2-core box; a new leader needs an election timeout plus a poll. */
const PAGE_DEADLINE_MS = 60_000;


async function pageMembers(page: Page): Promise<Array<{ name: string; health: string; leader: boolean; badge: boolean; className: string }>> {
  return page.$$eval('[data-member]', (nodes) => nodes.map((node) => ({
    name: node.getAttribute('data-member') ?? '',
    health: node.getAttribute('data-health') ?? '',
    leader: node.getAttribute('data-leader') === 'true',
    badge: node.querySelector('[data-badge="leader"]') !== null,
    className: node.className,
  })));
}

test('the dashboard page shows 3 members and the leader; a SIGKILLed leader turns red and the badge moves', { timeout: 240_000 }, async (context) => {
  if (!existsSync(CHROMIUM)) {
    context.skip(`${CHROMIUM} is missing: install Debian's chromium (apt-get install chromium) to run this test`);
    return;
  }
  if (!existsSync(bin)) assert.fail(`${bin} is missing: run npm run build first`);
  const startedAt = Date.now();
  const phase = (name: string): void => context.diagnostic(`${name} after ${Date.now() - startedAt} ms`);
  // Chromium starts while the cluster does: on a loaded box each takes seconds.
  const launching: Promise<Browser> = import('playwright-core').then(({ chromium }) => chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 60_000 }));
  launching.catch(() => undefined);
  let cluster: Cluster | undefined;
  let gateway: ChildProcess | undefined;
  let dashboard: Dashboard | undefined;
  let trafficStopped = false;
  let traffic: Promise<void> = Promise.resolve();
  try {
    cluster = await Cluster.start({ nodes: 3 });
    phase('cluster ready');
    const [gatewayPort, adminPort, dashboardPort] = (await freeLoopbackPorts(3)) as [number, number, number];
    const plans: MemberPlan[] = cluster.members.map((member, index) => ({ id: member.id, zone: ZONES[index]!, clientPort: member.clientPort, peerPort: member.peerPort, dataDir: member.dataDir }));
    const configFile = join(cluster.root, 'gw.yaml');
    writeFileSync(configFile, gatewayConfig(plans, gatewayPort, adminPort));
    gateway = spawn(process.execPath, [bin, 'gateway', '--config', configFile, '--log-level', 'warn'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let gatewayStderr = '';
    gateway.stderr!.on('data', (chunk: Buffer) => (gatewayStderr = (gatewayStderr + chunk.toString()).slice(-4000)));
    const clusterFile = join(cluster.root, 'cluster.json');
    writeFileSync(clusterFile, JSON.stringify({
      members: cluster.members.map((member, index) => ({ id: member.id, zone: ZONES[index], clientUrl: member.clientUrl, pid: member.child?.pid ?? null, restarts: 0 })),
      gateway: { url: `http://127.0.0.1:${gatewayPort}`, adminUrl: `http://127.0.0.1:${adminPort}` },
    }));
    const sloFile = join(import.meta.dirname, '../../../examples/slo/keel.yaml');
    dashboard = await startDashboard({ targets: new ClusterFileTargets(clusterFile), port: dashboardPort, intervalMs: 500, sloFile });
    const current = dashboard;
    await eventually(async () => (await fetch(`http://127.0.0.1:${adminPort}/readyz`).then((r) => r.ok, () => false)), 30_000, `the gateway to be ready: ${gatewayStderr}`);

    phase('gateway ready');
    // Bounded background traffic through the gateway, so the charts have something to draw.
    traffic = (async () => {
      for (let i = 0; i < 100_000 && !trafficStopped; i++) {
        await fetch(`http://127.0.0.1:${gatewayPort}/v3/kv/put`, { method: 'POST', body: JSON.stringify({ key: Buffer.from(`k${i % 10}`).toString('base64'), value: Buffer.from(String(i)).toString('base64') }), signal: AbortSignal.timeout(2_000) })
          .then((response) => response.arrayBuffer(), () => undefined);
        await sleep(20);
      }
    })();

    const launched = await launching;
    phase('chromium launched');
    const page = await launched.newPage({ viewport: { width: 1280, height: 1100 } });
    const foreign: string[] = [];
    page.on('request', (request) => {
      if (!request.url().startsWith(current.url)) foreign.push(request.url());
    });
    const pageErrors: string[] = [];
    page.on('pageerror', (error) => pageErrors.push(error.message));
    await page.goto(current.url);

    await eventually(async () => {
      const members = await pageMembers(page);
      return members.length === 3 && members.filter((member) => member.leader && member.badge).length === 1 && members.every((member) => member.health === 'ok');
    }, PAGE_DEADLINE_MS, 'the page to show 3 healthy members and one leader');
    phase('3 members and a leader on the page');
    const members = await pageMembers(page);
    assert.deepEqual(members.map((member) => member.name).sort(), ['n1', 'n2', 'n3']);
    assert.deepEqual(await page.$$eval('[data-zone]', (nodes) => nodes.map((node) => node.getAttribute('data-zone'))), ['a', 'b', 'c'], 'members grouped by zone');
    // The SLO panel lists the example file's objectives (evaluated by keel/observe's SloEvaluator from the members' /metrics).
    await eventually(async () => (await page.$$eval('tr[data-slo]', (nodes) => nodes.length)) >= 1, PAGE_DEADLINE_MS, 'SLO rows on the page');
    const oldLeader = members.find((member) => member.leader)!.name;
    assert.equal(await page.textContent('#leader-name'), oldLeader);
    assert.equal(await page.getAttribute('#connection', 'data-connection'), 'live');

    // The gateway panel lists the three endpoints of each cluster, healthy; the charts get points with gateway traffic.
    await eventually(async () => (await page.$$eval('tr[data-endpoint][data-health="ok"]', (nodes) => nodes.length)) === 6, PAGE_DEADLINE_MS, 'six healthy gateway endpoints on the page');
    await eventually(() => ((current.state as DashboardState | undefined)?.point.gatewayRps ?? 0) > 0, PAGE_DEADLINE_MS, 'a gateway request rate above zero');
    await eventually(async () => Number(await page.getAttribute('canvas[data-chart="rate"]', 'data-points')) >= 3, PAGE_DEADLINE_MS, 'chart points on the page');

    phase('gateway and charts on the page');
    await cluster.kill(oldLeader, 'SIGKILL');
    await eventually(async () => {
      const after = await pageMembers(page);
      const killed = after.find((member) => member.name === oldLeader);
      const leaders = after.filter((member) => member.leader && member.badge);
      return killed?.health === 'down' && /\bhealth-down\b/.test(killed.className) && !killed.badge && leaders.length === 1 && leaders[0]!.name !== oldLeader && leaders[0]!.health === 'ok';
    }, PAGE_DEADLINE_MS, `${oldLeader}'s tile to turn red and the leader badge to move to another member`);
    phase('leader badge moved');
    const newLeader = (await pageMembers(page)).find((member) => member.leader)!.name;
    assert.equal(await page.textContent('#leader-name'), newLeader);
    // The gateway's health checks see the killed member too (2 failed checks at 1 s).
    const killedAddress = `127.0.0.1:${cluster.member(oldLeader).clientPort}`;
    await eventually(async () => (await page.$$eval(`tr[data-endpoint="${killedAddress}"][data-health="down"]`, (nodes) => nodes.length)) === 2, PAGE_DEADLINE_MS, `the gateway to mark ${killedAddress} unhealthy on the page`);

    phase('gateway endpoint down on the page');
    // docs/observe-dashboard.png is this moment: the killed leader red, the badge moved.
    if (process.env.KEEL_DASHBOARD_SCREENSHOT !== undefined) await page.screenshot({ path: process.env.KEEL_DASHBOARD_SCREENSHOT, fullPage: true });

    // The member comes back: its tile turns healthy again, following the new leader.
    cluster.launch(oldLeader);
    await eventually(async () => (await pageMembers(page)).find((member) => member.name === oldLeader)?.health === 'ok', PAGE_DEADLINE_MS, `${oldLeader} healthy again on the page`);
    phase('member back on the page');
    assert.deepEqual(foreign, [], 'the page fetched nothing but the dashboard\'s own URLs');
    assert.deepEqual(pageErrors, [], 'no script errors on the page');
  } finally {
    trafficStopped = true;
    await traffic;
    await launching.then((browser) => browser.close(), () => undefined);
    await dashboard?.close();
    if (gateway && gateway.exitCode === null && gateway.signalCode === null) {
      const exited = new Promise((resolve) => gateway!.once('exit', resolve));
      gateway.kill('SIGKILL');
      await exited;
    }
    await cluster?.stop();
  }
});
