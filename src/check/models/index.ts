import { ModelMismatchError } from '../errors.js';
import type { Operation } from '../history.js';
import { kvModel } from './kv.js';
import { mutexModel } from './mutex.js';
import type { Model, ModelName } from './model.js';
import { casRegisterModel, registerModel } from './register.js';

export { MODEL_NAMES, type Model, type ModelName } from './model.js';
export { casRegisterModel, registerModel } from './register.js';
export { kvModel } from './kv.js';
export { mutexModel } from './mutex.js';

export function modelByName(name: ModelName): Model<unknown> {
  const models: Record<ModelName, unknown> = { register: registerModel, 'cas-register': casRegisterModel, kv: kvModel, mutex: mutexModel };
  return models[name] as Model<unknown>;
}

/** The model a history needs: mutex if it has acquire/release, kv if it has get/put/append, the cas register if it has a cas, else the register. */
export function inferModel(operations: readonly Operation[]): ModelName {
  if (operations.some((operation) => operation.f === 'acquire' || operation.f === 'release')) return 'mutex';
  if (operations.some((operation) => operation.f === 'get' || operation.f === 'put' || operation.f === 'append')) return 'kv';
  return operations.some((operation) => operation.f === 'cas') ? 'cas-register' : 'register';
}

/** Refuses a history with an operation the model does not define. */
export function assertModelFits(model: Model<unknown>, operations: readonly Operation[], source: string): void {
  for (const operation of operations) {
    if (!model.operations.includes(operation.f)) throw new ModelMismatchError(model.name, operation.f, `${source}${operation.line === undefined ? '' : `:${operation.line}`}`);
  }
}
