/**
 * Toxics as Toxiproxy defines them (its README is the reference; the names,
 * attributes and units are its, so its clients work unchanged). A toxic acts
 * on one stream of a connection: `upstream` is client to server, `downstream`
 * (the default) server to client; `toxicity` is the share of connections it
 * applies to, drawn once per connection.
 */
export const TOXIC_TYPES = ['latency', 'bandwidth', 'slow_close', 'timeout', 'reset_peer', 'slicer', 'limit_data'] as const;
export type ToxicType = (typeof TOXIC_TYPES)[number];
export type Stream = 'upstream' | 'downstream';

/** Attribute names and defaults per type (units: ms, except rate in KB/s, slicer's delay in µs, sizes in bytes). */
const ATTRIBUTES: Record<ToxicType, Record<string, number>> = {
  latency: { latency: 0, jitter: 0 },
  bandwidth: { rate: 0 },
  slow_close: { delay: 0 },
  timeout: { timeout: 0 },
  reset_peer: { timeout: 0 },
  slicer: { average_size: 0, size_variation: 0, delay: 0 },
  limit_data: { bytes: 0 },
};

/** Largest value any attribute may take: a day in ms, or a gigabyte. */
const ATTRIBUTE_MAX = 86_400_000_000;

export interface Toxic {
  readonly name: string;
  readonly type: ToxicType;
  readonly stream: Stream;
  readonly toxicity: number;
  readonly attributes: Readonly<Record<string, number>>;
}

/** A toxic body the API refused, with the HTTP status Toxiproxy answers for it. */
export class ToxicInputError extends Error {
  constructor(message: string, readonly status = 400) {
    super(message);
    this.name = 'ToxicInputError';
  }
}

/** Validates a POST body into a toxic; `previous` fills what an update leaves out. */
export function toxicFrom(body: unknown, previous?: Toxic): Toxic {
  if (typeof body !== 'object' || body === null) throw new ToxicInputError('toxic: expected a JSON object');
  const input = body as Record<string, unknown>;
  const type = (input['type'] ?? previous?.type) as ToxicType;
  if (!(TOXIC_TYPES as readonly string[]).includes(type)) throw new ToxicInputError(`toxic: unknown type ${JSON.stringify(input['type'])}; known: ${TOXIC_TYPES.join(', ')}`);
  const stream = (input['stream'] ?? previous?.stream ?? 'downstream') as Stream;
  if (stream !== 'upstream' && stream !== 'downstream') throw new ToxicInputError('toxic: stream must be upstream or downstream');
  const toxicity = input['toxicity'] ?? previous?.toxicity ?? 1;
  if (typeof toxicity !== 'number' || !(toxicity >= 0 && toxicity <= 1)) throw new ToxicInputError('toxic: toxicity must be a number in [0, 1]');
  const name = input['name'] ?? previous?.name ?? `${type}_${stream}`;
  if (typeof name !== 'string' || !/^[A-Za-z0-9_.-]{1,64}$/.test(name)) throw new ToxicInputError('toxic: name must be 1-64 letters, digits, _ . -');
  const given = (input['attributes'] ?? {}) as Record<string, unknown>;
  if (typeof given !== 'object' || given === null) throw new ToxicInputError('toxic: attributes must be an object');
  const attributes: Record<string, number> = {};
  for (const [key, fallback] of Object.entries(ATTRIBUTES[type])) {
    const value = given[key] ?? previous?.attributes[key] ?? fallback;
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > ATTRIBUTE_MAX) throw new ToxicInputError(`toxic ${name}: attribute ${key} must be a number in [0, ${ATTRIBUTE_MAX}]`);
    attributes[key] = value;
  }
  return { name, type, stream, toxicity, attributes };
}
