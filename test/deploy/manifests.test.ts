import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { SHUTDOWN_GRACE_MS } from '../../src/api/grpc/server.js';
import { nodeConfigFromFlags } from '../../src/cli/node.js';
import { parseGatewayYaml } from '../../src/gateway/config.js';
import { leaderTransferOnStopMsMax } from '../../src/node/keel-node.js';
import type { NodeConfig } from '../../src/node/config.js';
import {
  containerPort,
  dockerStages,
  expandArgs,
  find,
  kubernetesObjects,
  parseEnvironmentFile,
  parseKeelArgs,
  parseUnitFile,
  podEnvironment,
  readRepoFile,
  root,
  selects,
  timeSpanMs,
} from './deploy-files.js';
import type { PodTemplate } from './deploy-files.js';

// The deployment files (Dockerfile, deploy/systemd, deploy/kubernetes) are
// checked here without a container engine or a cluster: their structure
// with zod schemas of the fields that matter, and every keel command line
// in them with keel's own flag and config parsing, so a renamed flag or a
// setting keel refuses fails this test rather than a deployment.

const NAMESPACE = 'keel-test';
const objects = kubernetesObjects();
const members = find(objects, 'StatefulSet', 'keel');
const memberPod = members.spec.template;
const memberContainer = memberPod.spec.containers[0]!;

/** The longest a member takes to stop on SIGTERM: the leader transfer, then in-flight gRPC calls (runNode in src/cli/node.ts). */
function memberDrainMsMax(config: NodeConfig): number {
  return leaderTransferOnStopMsMax(config) + SHUTDOWN_GRACE_MS;
}

function nodeFlags(args: readonly string[]) {
  const parsed = parseKeelArgs(args);
  assert.equal(parsed.command, 'node');
  return parsed.flags;
}

function memberConfig(ordinal: number): NodeConfig {
  const pod = { name: `${members.metadata.name}-${ordinal}`, namespace: NAMESPACE };
  const environment = podEnvironment(memberContainer, pod);
  const args = expandArgs(memberContainer.args, environment);
  for (const arg of args) assert.doesNotMatch(arg, /\$\(/, `unexpanded variable in ${arg}`);
  return nodeConfigFromFlags(nodeFlags(args), environment, () => assert.fail('no --config file expected'));
}

function assertSpreadsMembers(template: PodTemplate, selector: Record<string, string>): void {
  const zoneSpread = template.spec.topologySpreadConstraints.find((each) => each.topologyKey === 'topology.kubernetes.io/zone');
  assert.ok(zoneSpread, 'spread over zones');
  assert.ok(selects(zoneSpread.labelSelector.matchLabels, template.metadata.labels));
  assert.deepEqual(zoneSpread.labelSelector.matchLabels, selector);
  const antiAffinity = template.spec.affinity?.podAntiAffinity;
  const terms = [
    ...(antiAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? []),
    ...(antiAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? []).map((each) => each.podAffinityTerm),
  ];
  assert.ok(terms.length > 0, 'podAntiAffinity present');
  for (const term of terms) assert.ok(selects(term.labelSelector.matchLabels, template.metadata.labels), 'anti-affinity selects its own pods');
}

test('the member StatefulSet: 3 replicas started in parallel, selector on the pod labels, a data volume claim, spread over nodes and zones', () => {
  assert.equal(members.spec.replicas, 3);
  assert.equal(members.spec.podManagementPolicy, 'Parallel', 'members become ready only together (a leader needs a quorum)');
  assert.ok(selects(members.spec.selector.matchLabels, memberPod.metadata.labels));
  const claim = members.spec.volumeClaimTemplates[0]!;
  const mount = memberContainer.volumeMounts.find((each) => each.name === claim.metadata.name);
  assert.ok(mount, 'the claim is mounted');
  assert.equal(memberConfig(0).dataDir, mount.mountPath, 'the data dir is the claimed volume');
  assertSpreadsMembers(memberPod, members.spec.selector.matchLabels);
  const required = memberPod.spec.affinity?.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution ?? [];
  assert.ok(required.some((term) => term.topologyKey === 'kubernetes.io/hostname'), 'at most one member per node');
});

test('each member pod parses with keel node\'s flags: its id is the pod name, peers and client URLs are the pods\' stable DNS names', () => {
  const names = Array.from({ length: members.spec.replicas }, (_, ordinal) => `${members.metadata.name}-${ordinal}`);
  const peerPort = containerPort(memberContainer, 'peer');
  const clientPort = containerPort(memberContainer, 'client');
  for (const [ordinal, name] of names.entries()) {
    const config = memberConfig(ordinal);
    assert.equal(config.id, name);
    assert.deepEqual(Object.keys(config.peers).sort(), names);
    const host = `${name}.${members.spec.serviceName}.${NAMESPACE}.svc`;
    assert.equal(config.peers[name], `${host}:${peerPort}`);
    assert.equal(config.clientUrls[name], `http://${host}:${clientPort}`);
    assert.equal(config.listenPeer, `0.0.0.0:${peerPort}`, 'listens on the pod\'s addresses');
    assert.equal(config.listenClient, `0.0.0.0:${clientPort}`);
    assert.equal(config.initialClusterState, 'new');
  }
});

test('member probes: readiness on /readyz and liveness on /livez, both on the client port', () => {
  const clientPort = Number(memberConfig(0).listenClient.split(':')[1]);
  assert.equal(memberContainer.readinessProbe.httpGet.path, '/readyz');
  assert.equal(memberContainer.livenessProbe.httpGet.path, '/livez');
  assert.equal(containerPort(memberContainer, memberContainer.readinessProbe.httpGet.port), clientPort);
  assert.equal(containerPort(memberContainer, memberContainer.livenessProbe.httpGet.port), clientPort);
});

test('the member\'s grace period covers its drain on SIGTERM', () => {
  const drainMs = memberDrainMsMax(memberConfig(0));
  assert.ok(memberPod.spec.terminationGracePeriodSeconds * 1000 >= 2 * drainMs, `${memberPod.spec.terminationGracePeriodSeconds} s against a drain of up to ${drainMs} ms`);
});

test('member Services: a headless one named by the StatefulSet that publishes unready pods, and a client one, both selecting the members', () => {
  const headless = find(objects, 'Service', members.spec.serviceName);
  assert.equal(headless.spec.clusterIP, 'None');
  assert.equal(headless.spec.publishNotReadyAddresses, true, 'peers must resolve before any member is ready');
  assert.ok(selects(headless.spec.selector, memberPod.metadata.labels));
  const client = find(objects, 'Service', members.metadata.name);
  assert.notEqual(client.spec.clusterIP, 'None');
  assert.ok(selects(client.spec.selector, memberPod.metadata.labels));
  for (const port of [...headless.spec.ports, ...client.spec.ports]) containerPort(memberContainer, port.targetPort);
  assert.equal(client.spec.ports[0]!.port, containerPort(memberContainer, 'client'));
});

test('the PodDisruptionBudget lets one member go at a time', () => {
  const budget = objects.find((each) => each.kind === 'PodDisruptionBudget');
  assert.ok(budget && budget.kind === 'PodDisruptionBudget');
  assert.equal(budget.spec.maxUnavailable, 1);
  assert.deepEqual(budget.spec.selector.matchLabels, members.spec.selector.matchLabels);
  assert.ok(selects(budget.spec.selector.matchLabels, memberPod.metadata.labels));
});

test('the gateway Deployment runs keel gateway on its ConfigMap, whose config keel accepts and whose endpoints are the member pods', () => {
  const gateway = find(objects, 'Deployment', 'keel-gateway');
  const pod = gateway.spec.template;
  const container = pod.spec.containers[0]!;
  assert.ok(selects(gateway.spec.selector.matchLabels, pod.metadata.labels));
  assert.ok(!selects(members.spec.selector.matchLabels, pod.metadata.labels), 'member selectors do not pick gateway pods');
  assertSpreadsMembers(pod, gateway.spec.selector.matchLabels);
  const parsed = parseKeelArgs(container.args);
  assert.equal(parsed.command, 'gateway');
  const mount = container.volumeMounts.find((each) => each.mountPath === dirname(parsed.flags.config));
  assert.ok(mount, `${parsed.flags.config} is on a mounted volume`);
  const volume = pod.spec.volumes.find((each) => each.name === mount.name);
  assert.ok(volume?.configMap, 'the config volume is a ConfigMap');
  const text = find(objects, 'ConfigMap', volume.configMap.name).data[basename(parsed.flags.config)];
  assert.ok(text, 'the ConfigMap holds the file');
  const config = parseGatewayYaml(text);

  const memberPort = containerPort(memberContainer, 'client');
  const expected = Array.from({ length: members.spec.replicas }, (_, ordinal) => `${members.metadata.name}-${ordinal}.${members.spec.serviceName}:${memberPort}`);
  for (const [name, cluster] of Object.entries(config.clusters)) {
    assert.deepEqual(cluster.endpoints.map((each) => each.address).sort(), expected, `cluster ${name}`);
    assert.equal(cluster.healthCheck?.path, '/readyz');
  }
  const listener = config.listeners[0]!;
  assert.equal(listener.host, '0.0.0.0');
  assert.equal(containerPort(container, 'http'), listener.port);
  assert.ok(config.admin && config.admin.host === '0.0.0.0', 'the kubelet reaches the admin port');
  assert.equal(container.readinessProbe.httpGet.path, '/readyz');
  assert.equal(container.livenessProbe.httpGet.path, '/livez');
  assert.equal(containerPort(container, container.readinessProbe.httpGet.port), config.admin.port);
  assert.equal(containerPort(container, container.livenessProbe.httpGet.port), config.admin.port);

  const preStopSeconds = Number(container.lifecycle?.preStop.exec.command[1] ?? 0);
  assert.ok(pod.spec.terminationGracePeriodSeconds > preStopSeconds + config.limits.drainTimeoutMs / 1000, 'the grace period covers preStop and the drain');

  const serviceObject = find(objects, 'Service', 'keel-gateway');
  assert.ok(selects(serviceObject.spec.selector, pod.metadata.labels));
  assert.equal(containerPort(container, serviceObject.spec.ports[0]!.targetPort), listener.port);
});

test('the systemd unit: its ExecStart with the example environment file parses as keel node, and stopping allows for the drain', () => {
  const unit = parseUnitFile(readRepoFile('deploy/systemd/keel-node.service'));
  const service = unit.get('Service');
  assert.ok(service && unit.has('Unit') && unit.has('Install'));
  const one = (key: string): string => {
    const values = service.get(key);
    assert.equal(values?.length, 1, `${key} given once`);
    return values![0]!;
  };
  const [nodeBinary, script, ...args] = one('ExecStart').split(/\s+/);
  assert.match(nodeBinary!, /\/node$/);
  assert.match(script!, /\/dist\/src\/cli\/main\.js$/);
  const environment = parseEnvironmentFile(readRepoFile('deploy/systemd/keel-node.env'));
  assert.ok(one('EnvironmentFile').endsWith('node.env'));
  const config = nodeConfigFromFlags(nodeFlags(args), environment, () => assert.fail('no --config file expected'));
  assert.equal(config.id, environment.KEEL_ID);
  assert.equal(Object.keys(config.peers).length, 3);

  assert.equal(one('KillSignal'), 'SIGTERM');
  assert.ok(timeSpanMs(one('TimeoutStopSec')) >= 2 * memberDrainMsMax(config));
  assert.equal(one('Restart'), 'on-failure');
  assert.notEqual(one('User'), 'root');
  assert.ok(Number(one('LimitNOFILE')) >= 65_536);
  assert.equal(one('NoNewPrivileges'), 'yes');
  assert.equal(one('PrivateTmp'), 'yes');
  assert.equal(one('ProtectSystem'), 'strict');
  assert.ok(one('ReadWritePaths').split(/\s+/).includes(config.dataDir), 'the data dir is writable under ProtectSystem=strict');
  assert.equal(`/var/lib/${one('StateDirectory')}`, config.dataDir);
  assert.ok(!service.has('MemoryDenyWriteExecute'), 'V8 needs writable executable memory');
});

test('systemd itself reads the unit without a complaint, where systemd-analyze is installed', (context) => {
  const result = spawnSync('systemd-analyze', ['verify', join(root, 'deploy/systemd/keel-node.service')], { encoding: 'utf8', timeout: 30_000 });
  if (result.error) {
    context.skip(`systemd-analyze not available: ${result.error.message}`);
    return;
  }
  // verify exits 0 on settings it ignores; what it says about them is the finding.
  const complaints = `${result.stdout}${result.stderr}`.split('\n').filter((line) => line.includes('keel-node.service'));
  assert.deepEqual(complaints, []);
  assert.equal(result.status, 0);
});

test('the Dockerfile: builds with dev dependencies, runs the built CLI on a slim Node 20 image as a non-root user, with a /livez health check', () => {
  const stages = dockerStages(readRepoFile('Dockerfile'));
  assert.ok(stages.length >= 2, 'multi-stage');
  const values = (stage: (typeof stages)[number], instruction: string) => stage.filter((each) => each.instruction === instruction).map((each) => each.value);
  const build = stages[0]!;
  const runs = values(build, 'RUN').join(' && ');
  for (const step of ['npm ci', 'npm run build', 'npm prune --omit=dev']) assert.ok(runs.includes(step), `build runs ${step}`);
  assert.doesNotMatch(values(build, 'FROM')[0]!, /slim/, 'the build stage has python3, make and g++ for node-gyp');

  const runtime = stages.at(-1)!;
  assert.match(values(runtime, 'FROM')[0]!, /^node:\$\{NODE_VERSION\}-\S*slim|^node:20\S*slim/);
  assert.match(readRepoFile('Dockerfile'), /^ARG NODE_VERSION=20$/m);
  const user = values(runtime, 'USER').at(-1);
  assert.ok(user && !/^(root|0)(:|$)/.test(user), `runs as ${user}`);
  const uid = Number(user.split(':')[0]);
  assert.equal(memberPod.spec.securityContext.runAsUser, uid, 'Kubernetes runs the image\'s user');
  assert.equal(memberPod.spec.securityContext.fsGroup, Number(user.split(':')[1]));
  assert.match(values(runtime, 'HEALTHCHECK')[0] ?? '', /fetch\(/);
  assert.match(values(runtime, 'ENV').join('\n'), /KEEL_HEALTHCHECK_URL=http:\/\/127\.0\.0\.1:2379\/livez/);
  assert.deepEqual(JSON.parse(values(runtime, 'ENTRYPOINT')[0]!), ['node', '/app/dist/src/cli/main.js']);
  assert.ok(values(runtime, 'VOLUME').length > 0);
  assert.ok(values(runtime, 'EXPOSE').join(' ').split(/\s+/).includes('2379') && values(runtime, 'EXPOSE').join(' ').split(/\s+/).includes('2380'));

  // The entrypoint is what `npm run build` writes: package.json's bin, from src/cli/main.ts.
  const copies = values(runtime, 'COPY').join('\n');
  assert.match(copies, /--from=build \/app\/dist \.\/dist/);
  assert.match(copies, /--from=build \/app\/proto \.\/proto/, 'the gRPC services load proto/ at run time');
  assert.deepEqual(values(runtime, 'WORKDIR'), ['/app']);
  const packageJson = JSON.parse(readRepoFile('package.json')) as { bin: Record<string, string>; scripts: Record<string, string> };
  assert.equal(packageJson.bin.keel, 'dist/src/cli/main.js');
  assert.equal(packageJson.scripts.build, 'tsc -p tsconfig.build.json');
  assert.ok(existsSync(join(root, 'src/cli/main.ts')));
  const tsconfig = JSON.parse(readRepoFile('tsconfig.json')) as { compilerOptions: { outDir: string; rootDir: string } };
  assert.deepEqual([tsconfig.compilerOptions.outDir, tsconfig.compilerOptions.rootDir], ['dist', '.']);
  const buildCopies = values(build, 'COPY').join('\n');
  const included = (JSON.parse(readRepoFile('tsconfig.build.json')) as { include: string[] }).include;
  for (const folder of [...included, 'proto']) assert.match(buildCopies, new RegExp(`^${folder} `, 'm'), `the build copies ${folder}/`);
  const ignored = readRepoFile('.dockerignore').split('\n').map((line) => line.trim());
  for (const needed of [...included, 'proto', 'package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json']) assert.ok(!ignored.includes(needed), `.dockerignore keeps ${needed}`);
});

test('the gateway config docs/deploy.md gives for docker is one keel accepts', () => {
  const text = /cat > gw\.yaml <<'EOF'\n([\s\S]*?)\nEOF\n/.exec(readRepoFile('docs/deploy.md'))?.[1];
  assert.ok(text, 'docs/deploy.md has a gw.yaml');
  const config = parseGatewayYaml(text);
  for (const cluster of Object.values(config.clusters)) assert.deepEqual(cluster.endpoints.map((each) => each.address), ['keel-1:2379', 'keel-2:2379', 'keel-3:2379']);
});

test('a renamed or unknown flag is refused by the parser the checks above rely on', () => {
  assert.throws(() => parseKeelArgs(['node', '--listen-peers=0.0.0.0:2380']), /unknown option/);
  assert.throws(() => parseKeelArgs(['gateway']), /required option/);
});
