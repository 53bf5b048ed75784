import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, CommanderError } from 'commander';
import { parseAllDocuments } from 'yaml';
import { z } from 'zod';
import { gatewayCommand } from '../../src/cli/gateway.js';
import { nodeCommand } from '../../src/cli/node.js';
import type { NodeFlags } from '../../src/cli/node.js';

/**
 * Readers for the deployment files under deploy/ and the Dockerfile, for
 * test/deploy/manifests.test.ts: the Kubernetes objects validated with zod
 * schemas of the fields the test relies on, the systemd unit and its
 * environment file, the Dockerfile's instructions, and argument vectors
 * parsed by keel's own commander commands (with their actions replaced, so
 * nothing starts).
 */
export const root = join(import.meta.dirname, '../..');

export function readRepoFile(path: string): string {
  return readFileSync(join(root, path), 'utf8');
}

// ------------------------------------------------------------------ Kubernetes

const labels = z.record(z.string(), z.string());
const metadata = z.object({ name: z.string().min(1), labels: labels.optional() });
const labelSelector = z.object({ matchLabels: labels });
const httpProbe = z.object({ httpGet: z.object({ path: z.string(), port: z.union([z.string(), z.number().int()]) }) });
const envVar = z.object({
  name: z.string().min(1),
  value: z.string().optional(),
  valueFrom: z.object({ fieldRef: z.object({ fieldPath: z.string() }) }).optional(),
});
const container = z.object({
  name: z.string().min(1),
  image: z.string().min(1),
  args: z.array(z.string()).min(1),
  env: z.array(envVar).default([]),
  ports: z.array(z.object({ name: z.string().min(1), containerPort: z.number().int().min(1).max(65_535) })).min(1),
  readinessProbe: httpProbe,
  livenessProbe: httpProbe,
  volumeMounts: z.array(z.object({ name: z.string(), mountPath: z.string() })).default([]),
  lifecycle: z.object({ preStop: z.object({ exec: z.object({ command: z.array(z.string()) }) }) }).optional(),
});
const podAffinityTerm = z.object({ topologyKey: z.string(), labelSelector });
const podSpec = z.object({
  terminationGracePeriodSeconds: z.number().int().positive(),
  securityContext: z.object({ runAsNonRoot: z.literal(true), runAsUser: z.number().int().positive(), fsGroup: z.number().int().optional() }),
  affinity: z
    .object({
      podAntiAffinity: z.object({
        requiredDuringSchedulingIgnoredDuringExecution: z.array(podAffinityTerm).optional(),
        preferredDuringSchedulingIgnoredDuringExecution: z.array(z.object({ weight: z.number().int(), podAffinityTerm })).optional(),
      }),
    })
    .optional(),
  topologySpreadConstraints: z
    .array(z.object({ maxSkew: z.number().int().positive(), topologyKey: z.string(), whenUnsatisfiable: z.enum(['DoNotSchedule', 'ScheduleAnyway']), labelSelector }))
    .default([]),
  containers: z.array(container).length(1),
  volumes: z.array(z.object({ name: z.string(), configMap: z.object({ name: z.string() }).optional() })).default([]),
});
const podTemplate = z.object({ metadata: z.object({ labels }), spec: podSpec });

const statefulSet = z.object({
  apiVersion: z.literal('apps/v1'),
  kind: z.literal('StatefulSet'),
  metadata,
  spec: z.object({
    serviceName: z.string().min(1),
    replicas: z.number().int().positive(),
    podManagementPolicy: z.enum(['OrderedReady', 'Parallel']).default('OrderedReady'),
    selector: labelSelector,
    template: podTemplate,
    volumeClaimTemplates: z
      .array(z.object({ metadata: z.object({ name: z.string() }), spec: z.object({ accessModes: z.array(z.string()).min(1), resources: z.object({ requests: z.object({ storage: z.string() }) }) }) }))
      .min(1),
  }),
});
const deployment = z.object({
  apiVersion: z.literal('apps/v1'),
  kind: z.literal('Deployment'),
  metadata,
  spec: z.object({ replicas: z.number().int().positive(), selector: labelSelector, template: podTemplate }),
});
const service = z.object({
  apiVersion: z.literal('v1'),
  kind: z.literal('Service'),
  metadata,
  spec: z.object({
    clusterIP: z.string().optional(),
    publishNotReadyAddresses: z.boolean().optional(),
    selector: labels,
    ports: z.array(z.object({ name: z.string(), port: z.number().int(), targetPort: z.union([z.string(), z.number().int()]) })).min(1),
  }),
});
const podDisruptionBudget = z.object({
  apiVersion: z.literal('policy/v1'),
  kind: z.literal('PodDisruptionBudget'),
  metadata,
  spec: z.object({ maxUnavailable: z.number().int(), selector: labelSelector }),
});
const configMap = z.object({ apiVersion: z.literal('v1'), kind: z.literal('ConfigMap'), metadata, data: z.record(z.string(), z.string()) });

const schemas = { StatefulSet: statefulSet, Deployment: deployment, Service: service, PodDisruptionBudget: podDisruptionBudget, ConfigMap: configMap } as const;
type Kind = keyof typeof schemas;
export type KubernetesObject = { [K in Kind]: z.output<(typeof schemas)[K]> }[Kind];
export type StatefulSet = z.output<typeof statefulSet>;
export type PodTemplate = z.output<typeof podTemplate>;
export type Container = z.output<typeof container>;

/** Every object of deploy/kubernetes, from the files kustomization.yaml lists, each validated by its kind's schema. */
export function kubernetesObjects(): KubernetesObject[] {
  const kustomization = z.object({ kind: z.literal('Kustomization'), resources: z.array(z.string()).min(1) }).parse(parseYamlDocuments('deploy/kubernetes/kustomization.yaml')[0]);
  return kustomization.resources.flatMap((file) =>
    parseYamlDocuments(`deploy/kubernetes/${file}`).map((document, index) => {
      const { kind } = z.object({ kind: z.string() }).parse(document);
      if (!(kind in schemas)) throw new Error(`${file} #${index}: unexpected kind ${kind}`);
      const result = schemas[kind as Kind].safeParse(document);
      if (!result.success) throw new Error(`${file} #${index} (${kind}): ${result.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ')}`);
      return result.data;
    }),
  );
}

function parseYamlDocuments(path: string): unknown[] {
  return parseAllDocuments(readRepoFile(path)).map((document) => {
    if (document.errors.length > 0) throw new Error(`${path}: ${document.errors[0]!.message}`);
    return document.toJS() as unknown;
  });
}

/** One object of a kind, by name. */
export function find<K extends Kind>(objects: readonly KubernetesObject[], kind: K, name: string): Extract<KubernetesObject, { kind: K }> {
  const found = objects.find((object) => object.kind === kind && object.metadata.name === name);
  if (!found) throw new Error(`no ${kind} ${name}`);
  return found as Extract<KubernetesObject, { kind: K }>;
}

/** True when every label the selector asks for is on the pod. */
export function selects(selector: Record<string, string>, podLabels: Record<string, string>): boolean {
  return Object.keys(selector).length > 0 && Object.entries(selector).every(([key, value]) => podLabels[key] === value);
}

/** A container's environment as the kubelet would give it to one pod: literal values and the downward API's name and namespace. */
export function podEnvironment(container: Container, pod: { name: string; namespace: string }): Record<string, string> {
  const environment: Record<string, string> = {};
  for (const variable of container.env) {
    const field = variable.valueFrom?.fieldRef.fieldPath;
    const value = field === 'metadata.name' ? pod.name : field === 'metadata.namespace' ? pod.namespace : variable.value;
    if (value === undefined) throw new Error(`env ${variable.name}: no value the test can stand in for`);
    environment[variable.name] = value;
  }
  return environment;
}

/** Kubernetes' $(NAME) expansion of container args; references to unknown variables stay as written, as the kubelet leaves them. */
export function expandArgs(args: readonly string[], environment: Record<string, string>): string[] {
  return args.map((arg) => arg.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (whole, name: string) => environment[name] ?? whole));
}

/** A container port's number by the name a probe or Service refers to (or the number itself). */
export function containerPort(container: Container, port: string | number): number {
  if (typeof port === 'number') return port;
  const found = container.ports.find((each) => each.name === port);
  if (!found) throw new Error(`container ${container.name} has no port named ${port}`);
  return found.containerPort;
}

// ------------------------------------------------------------------ keel's own flag parsing

export type ParsedKeelArgs = { command: 'node'; flags: NodeFlags } | { command: 'gateway'; flags: { config: string; logLevel: string; watch?: boolean } };

/**
 * Parses `keel ...` arguments (without the program name) with keel's real
 * `node` and `gateway` commands. Their actions are replaced, so nothing
 * starts; an unknown or misspelt flag throws.
 */
export function parseKeelArgs(args: readonly string[]): ParsedKeelArgs {
  let parsed: ParsedKeelArgs | undefined;
  let errors = '';
  const quiet = { writeOut: () => {}, writeErr: (text: string) => (errors += text) };
  const node = nodeCommand().exitOverride().configureOutput(quiet).action((flags: NodeFlags) => {
    parsed = { command: 'node', flags };
  });
  const gateway = gatewayCommand().exitOverride().configureOutput(quiet).action((flags: { config: string; logLevel: string; watch?: boolean }) => {
    parsed = { command: 'gateway', flags };
  });
  const program = new Command('keel').exitOverride().configureOutput(quiet).addCommand(node).addCommand(gateway);
  try {
    program.parse([...args], { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) throw new Error(`keel ${args.join(' ')}: ${errors.trim() || error.message}`);
    throw error;
  }
  if (!parsed) throw new Error(`keel ${args.join(' ')}: no keel node or keel gateway command`);
  return parsed;
}

// ------------------------------------------------------------------ systemd

/** A systemd unit file: section -> key -> every value given (keys may repeat). */
export function parseUnitFile(text: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>();
  let current: Map<string, string[]> | undefined;
  for (const line of joinContinuations(text, '\\')) {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#') || trimmed.startsWith(';')) continue;
    const section = /^\[(.+)\]$/.exec(trimmed);
    if (section) {
      current = new Map();
      sections.set(section[1]!, current);
      continue;
    }
    const at = trimmed.indexOf('=');
    if (!current || at <= 0) throw new Error(`unit file: cannot read "${trimmed}"`);
    const key = trimmed.slice(0, at).trim();
    current.set(key, [...(current.get(key) ?? []), trimmed.slice(at + 1).trim()]);
  }
  return sections;
}

/** A systemd EnvironmentFile of plain KEY=VALUE lines (no quoting used). */
export function parseEnvironmentFile(text: string): Record<string, string> {
  const environment: Record<string, string> = {};
  for (const line of text.split('\n').map((each) => each.trim())) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (!match) throw new Error(`environment file: cannot read "${line}"`);
    environment[match[1]!] = match[2]!;
  }
  return environment;
}

/** A systemd time span such as 30s, 2min or 90 (seconds), in milliseconds. */
export function timeSpanMs(value: string): number {
  const match = /^(\d+)\s*(ms|s|sec|min|m)?$/.exec(value.trim());
  if (!match) throw new Error(`time span "${value}" not understood`);
  const scale = { ms: 1, s: 1000, sec: 1000, min: 60_000, m: 60_000 }[match[2] ?? 's']!;
  return Number(match[1]) * scale;
}

// ------------------------------------------------------------------ Dockerfile

export interface DockerInstruction {
  readonly instruction: string;
  readonly value: string;
}

/** The Dockerfile's build stages (split at FROM), each a list of instructions with continuation lines joined. */
export function dockerStages(text: string): DockerInstruction[][] {
  const stages: DockerInstruction[][] = [];
  for (const line of joinContinuations(text, '\\')) {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    const match = /^([A-Za-z]+)\s+(.*)$/.exec(trimmed);
    if (!match) throw new Error(`Dockerfile: cannot read "${trimmed}"`);
    const instruction = { instruction: match[1]!.toUpperCase(), value: match[2]! };
    if (instruction.instruction === 'FROM') stages.push([]);
    if (instruction.instruction !== 'ARG' || stages.length > 0) stages.at(-1)?.push(instruction);
  }
  return stages;
}

/** Lines with a trailing continuation character joined to the next (comment lines inside are dropped, as Docker does). */
function joinContinuations(text: string, continuation: string): string[] {
  const lines: string[] = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    if (pending !== '' && raw.trim().startsWith('#')) continue;
    const line = raw.trimEnd();
    if (line.endsWith(continuation)) {
      pending += `${line.slice(0, -continuation.length)} `;
      continue;
    }
    lines.push(pending + line);
    pending = '';
  }
  if (pending !== '') lines.push(pending);
  return lines;
}
