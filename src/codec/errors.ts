/**
 * Bytes that do not decode. The codec cannot know what the bytes were (a WAL
 * record, a store command, a snapshot), so the layer that called it maps this
 * to its own typed error: storage to a corruption error naming the file and
 * offset, the store to MalformedBytesError.
 */
export class DecodeError extends Error {
  readonly code = 'KEEL_CODEC_MALFORMED_BYTES';

  constructor(message: string) {
    super(message);
    this.name = 'DecodeError';
  }
}

/**
 * A value the chosen encoding cannot hold (a negative or unsafe integer).
 * A RangeError, as before the codecs were merged; the store maps it to
 * InvalidRequestError.
 */
export class EncodeError extends RangeError {
  readonly code = 'KEEL_CODEC_UNENCODABLE_VALUE';

  constructor(message: string) {
    super(message);
    this.name = 'EncodeError';
  }
}
