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
  unobservedUnknowns(operations) {
    // A put's or append's text shows in every get until the next put; containment is conservative (it may keep too much, never too little).
    const dropped = new Set<Operation>();
    let seen: string | undefined;
    for (const operation of operations) {
      if (operation.type !== 'info' || (operation.f !== 'put' && operation.f !== 'append')) continue;
      seen ??= operations.filter((other) => other.f === 'get').map((other) => text(other.value)).join('\u0000');
      const written = text(operation.value);
      if (written === '' ? operation.f === 'append' : !seen.includes(written)) dropped.add(operation);
    }
    return dropped;
  },
};
