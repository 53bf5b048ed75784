/**
 * One key of a key-value map with get, put and append. A missing key reads
 * as the empty string (so does a get reporting nil); append concatenates.
 * The checker splits the map by key first (P-compositionality), so the
 * state here is one string.
 */
import type { Operation, Scalar } from '../history.js';
import type { Model } from './model.js';

function text(value: Scalar): string {
  return value === null ? '' : String(value);
}

export const kvModel: Model<string> = {
  name: 'kv',
  operations: ['get', 'put', 'append'],
  init: () => '',
  step(state, operation) {
    switch (operation.f) {
      case 'get':
        return text(operation.value) === state ? state : undefined;
      case 'put':
        return text(operation.value);
      case 'append':
        return state + text(operation.value);
      default:
        return undefined;
    }
  },
  hash: (state) => state,
  feeds(writer, reader) {
    if (reader.f !== 'get' || (writer.f !== 'put' && writer.f !== 'append')) return false;
    const written = text(writer.value);
    return written !== '' && text(reader.value).includes(written);
  },
};
