/**
 * Loads a scenario: a module (TypeScript or JavaScript; exported `options`
 * and a default function run once per iteration by each VU, k6's shape) or a
 * YAML file (see scenario-yaml.ts). TypeScript modules load through tsx.
 */
import { readFile } from 'node:fs/promises';
import { extname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { badInput, LoadError } from './errors.js';
import { parseOptions, type Options } from './options.js';
import { parseYamlScenario, yamlIteration } from './scenario-yaml.js';
import type { SetupFunction, TeardownFunction } from './lifecycle.js';
import type { VU } from './vu.js';

/**
 * A scenario's default (or `exec`) function, run once per iteration by each
 * VU; `data` is what setup() returned (undefined without a setup), parsed
 * from JSON and frozen: the VUs of a worker share it.
 */
export type DefaultFunction<Data = unknown> = (vu: VU, data: Data) => unknown;
export type IterationFunction = DefaultFunction;

export interface Scenario {
  readonly file: string;
  readonly options: Options;
  /** Exported functions by name (`default` is the default export). */
  readonly functions: ReadonlyMap<string, IterationFunction>;
}

let loads = 0;

/** Scenario files are small: bigger is a mistake. */
const SCENARIO_FILE_BYTES_MAX = 4 * 1024 * 1024;

export async function loadScenario(path: string): Promise<Scenario> {
  const file = resolve(path);
  const extension = extname(file).toLowerCase();
  if (extension === '.yaml' || extension === '.yml') {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      throw badInput(`${path}: cannot read it (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
    }
    if (text.length > SCENARIO_FILE_BYTES_MAX) throw badInput(`${path}: larger than ${SCENARIO_FILE_BYTES_MAX} bytes`);
    const scenario = parseYamlScenario(text, path);
    return { file, options: scenario.options, functions: new Map([['default', yamlIteration(scenario)]]) };
  }
  if (!['.ts', '.mts', '.js', '.mjs'].includes(extension)) throw badInput(`${path}: a scenario is a .ts, .js, .mjs or .yaml file`);
  if (extension === '.ts' || extension === '.mts') await registerTypeScript(path);
  let module: Record<string, unknown>;
  try {
    // A fresh instance per load: a module's options may read the environment at import time.
    module = (await import(`${pathToFileURL(file).href}?load=${++loads}`)) as Record<string, unknown>;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND' && String((error as Error).message).includes(file)) throw badInput(`${path}: no such file`);
    throw badInput(`${path}: the module failed to load: ${(error as Error).message}`);
  }
  const functions = new Map<string, IterationFunction>();
  for (const [name, value] of Object.entries(module)) if (typeof value === 'function') functions.set(name, value as IterationFunction);
  const options = parseOptions(module.options, path);
  return { file, options, functions };
}

/** Makes `import()` understand TypeScript, once, through tsx (a dev dependency: without it, compile the scenario to .js). */
async function registerTypeScript(path: string): Promise<void> {
  if (typeScriptRegistered) return;
  try {
    const api = (await import('tsx/esm/api')) as { register: () => unknown };
    api.register();
    typeScriptRegistered = true;
  } catch {
    throw new LoadError('KEEL_LOAD_BAD_INPUT', `${path}: loading a TypeScript scenario needs tsx (npm install tsx), or compile it to .js`);
  }
}
let typeScriptRegistered = process.execArgv.some((argument) => argument.includes('tsx'));

/** The module's `setup` and `teardown` exports (k6's lifecycle; lifecycle.ts runs them). */
export function lifecycleFunctions(scenario: Scenario): { setup: SetupFunction | undefined; teardown: TeardownFunction | undefined } {
  return { setup: scenario.functions.get('setup') as SetupFunction | undefined, teardown: scenario.functions.get('teardown') as TeardownFunction | undefined };
}

/**
 * A scenario given as values instead of a module file: its options and its
 * iteration functions (`default` and any `exec` names). Its functions are
 * closures, so only a run in this process can use it (a forked worker or an
 * agent could not receive them).
 */
export interface InlineScenario {
  readonly options: Options;
  readonly functions: Readonly<Record<string, IterationFunction>>;
}

/** The name an inline scenario goes by in messages and errors. */
export const INLINE_SCENARIO_FILE = '(inline scenario)';

export function inlineScenario(inline: InlineScenario): Scenario {
  return { file: INLINE_SCENARIO_FILE, options: parseOptions(inline.options, 'inline scenario options'), functions: new Map(Object.entries(inline.functions)) };
}

/** The function a scenario plan runs; a bad `exec` is bad input. */
export function iterationFunction(scenario: Scenario, exec: string, scenarioName: string): IterationFunction {
  const fn = scenario.functions.get(exec);
  if (fn === undefined) throw badInput(`options.scenarios.${scenarioName}.exec: ${scenario.file} exports no function '${exec}'${exec === 'default' ? ' (export default async function (vu) { ... })' : ''}`);
  return fn;
}
