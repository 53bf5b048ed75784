/**
 * Just enough HPACK (RFC 7541) to read the header blocks a client sends and
 * write them out again: a decoder with the static and dynamic tables and
 * Huffman decoding, and an encoder that writes only literals without
 * indexing. The encoder never touches the receiver's dynamic table, which is
 * what lets authority-rewrite.ts start re-encoding a connection midway.
 */

export class HpackError extends Error {
  readonly code = 'KEEL_API_HPACK';
  constructor(message: string) {
    super(message);
    this.name = 'HpackError';
  }
}

export interface HeaderField {
  name: string;
  value: string;
}

/** RFC 7541 Appendix A. */
const STATIC_TABLE: readonly (readonly [string, string])[] = [
  [':authority', ''], [':method', 'GET'], [':method', 'POST'], [':path', '/'], [':path', '/index.html'],
  [':scheme', 'http'], [':scheme', 'https'], [':status', '200'], [':status', '204'], [':status', '206'],
  [':status', '304'], [':status', '400'], [':status', '404'], [':status', '500'], ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'], ['accept-language', ''], ['accept-ranges', ''], ['accept', ''],
  ['access-control-allow-origin', ''], ['age', ''], ['allow', ''], ['authorization', ''], ['cache-control', ''],
  ['content-disposition', ''], ['content-encoding', ''], ['content-language', ''], ['content-length', ''],
  ['content-location', ''], ['content-range', ''], ['content-type', ''], ['cookie', ''], ['date', ''], ['etag', ''],
  ['expect', ''], ['expires', ''], ['from', ''], ['host', ''], ['if-match', ''], ['if-modified-since', ''],
  ['if-none-match', ''], ['if-range', ''], ['if-unmodified-since', ''], ['last-modified', ''], ['link', ''],
  ['location', ''], ['max-forwards', ''], ['proxy-authenticate', ''], ['proxy-authorization', ''], ['range', ''],
  ['referer', ''], ['refresh', ''], ['retry-after', ''], ['server', ''], ['set-cookie', ''],
  ['strict-transport-security', ''], ['transfer-encoding', ''], ['user-agent', ''], ['vary', ''], ['via', ''],
  ['www-authenticate', ''],
];

/**
 * RFC 7541 Appendix B as code lengths for symbols 0..256 (256 is EOS). The
 * code is canonical (codes are assigned in order of length, then symbol), so
 * the lengths determine every code; HUFFMAN_ROOT is built from them.
 */
const HUFFMAN_LENGTHS = [
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28,
  6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, 5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,
  13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6,
  15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, 6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28,
  20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23, 24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24,
  22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, 21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
  26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, 19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27,
  20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23, 26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26,
  30,
];
const EOS = 256;

/** A binary trie node: children by bit, or a leaf symbol. */
interface HuffmanNode {
  zero?: HuffmanNode;
  one?: HuffmanNode;
  symbol?: number;
}

const HUFFMAN_ROOT: HuffmanNode = (() => {
  const root: HuffmanNode = {};
  const order = HUFFMAN_LENGTHS.map((length, symbol) => ({ length, symbol })).sort((a, b) => a.length - b.length || a.symbol - b.symbol);
  let code = 0;
  let previous = order[0]!.length;
  for (const { length, symbol } of order) {
    code *= 2 ** (length - previous);
    previous = length;
    let node = root;
    for (let bit = length - 1; bit >= 0; bit--) {
      const one = Math.floor(code / 2 ** bit) % 2 === 1;
      const next = (one ? node.one : node.zero) ?? {};
      if (one) node.one = next;
      else node.zero = next;
      node = next;
    }
    node.symbol = symbol;
    code++;
  }
  return root;
})();

function huffmanDecode(bytes: Uint8Array): string {
  let out = '';
  let node = HUFFMAN_ROOT;
  let depth = 0;
  let allOnes = true;
  for (const byte of bytes) {
    for (let bit = 7; bit >= 0; bit--) {
      const one = ((byte >> bit) & 1) === 1;
      const next = one ? node.one : node.zero;
      if (!next) throw new HpackError('invalid Huffman code');
      depth++;
      allOnes &&= one;
      if (next.symbol !== undefined) {
        if (next.symbol === EOS) throw new HpackError('EOS in a Huffman string');
        out += String.fromCharCode(next.symbol);
        node = HUFFMAN_ROOT;
        depth = 0;
        allOnes = true;
      } else {
        node = next;
      }
    }
  }
  // Padding: fewer than 8 bits, all ones (a prefix of EOS).
  if (depth > 7 || !allOnes) throw new HpackError('invalid Huffman padding');
  return out;
}

/** Header blocks decode to at most this many bytes (names + values), like an HTTP/2 server's header list limit. */
const HEADER_LIST_BYTES_MAX = 256 * 1024;
/** An integer beyond this is refused (RFC 7541 leaves the bound to implementations). */
const INTEGER_MAX = 2 ** 31 - 1;

class Reader {
  position = 0;
  constructor(readonly bytes: Uint8Array) {}

  get done(): boolean {
    return this.position >= this.bytes.length;
  }

  peek(): number {
    if (this.done) throw new HpackError('truncated header block');
    return this.bytes[this.position]!;
  }

  /** RFC 7541 5.1: an integer with an N-bit prefix. */
  integer(prefixBits: number): number {
    const max = (1 << prefixBits) - 1;
    let value = this.peek() & max;
    this.position++;
    if (value < max) return value;
    let shift = 0;
    for (;;) {
      const byte = this.peek();
      this.position++;
      value += (byte & 0x7f) * 2 ** shift;
      if (value > INTEGER_MAX) throw new HpackError('integer too large');
      if ((byte & 0x80) === 0) return value;
      shift += 7;
    }
  }

  /** RFC 7541 5.2: a string literal, raw or Huffman-coded. */
  string(): string {
    const huffman = (this.peek() & 0x80) !== 0;
    const length = this.integer(7);
    if (this.position + length > this.bytes.length) throw new HpackError('truncated string');
    const raw = this.bytes.subarray(this.position, this.position + length);
    this.position += length;
    return huffman ? huffmanDecode(raw) : String.fromCharCode(...raw);
  }
}

/** One direction's decoding context: the dynamic table the peer's encoder builds. */
export class HpackDecoder {
  #entries: HeaderField[] = [];
  #size = 0;
  #maxSize: number;
  readonly #limit: number;

  /** `maxTableSize`: SETTINGS_HEADER_TABLE_SIZE this side advertised (4096 by default). */
  constructor(maxTableSize = 4096) {
    this.#maxSize = maxTableSize;
    this.#limit = maxTableSize;
  }

  decode(block: Uint8Array): HeaderField[] {
    const reader = new Reader(block);
    const fields: HeaderField[] = [];
    let bytes = 0;
    while (!reader.done) {
      const first = reader.peek();
      let field: HeaderField;
      if (first & 0x80) {
        field = this.#lookup(reader.integer(7));
      } else if ((first & 0xc0) === 0x40) {
        field = this.#literal(reader, 6);
        this.#insert(field);
      } else if ((first & 0xe0) === 0x20) {
        const size = reader.integer(5);
        if (size > this.#limit) throw new HpackError('table size update above the advertised limit');
        this.#maxSize = size;
        this.#evict(0);
        continue;
      } else {
        field = this.#literal(reader, 4); // without indexing (0000) or never indexed (0001)
      }
      bytes += field.name.length + field.value.length;
      if (bytes > HEADER_LIST_BYTES_MAX) throw new HpackError('header list too large');
      fields.push(field);
    }
    return fields;
  }

  #literal(reader: Reader, prefixBits: number): HeaderField {
    const index = reader.integer(prefixBits);
    const name = index === 0 ? reader.string() : this.#lookup(index).name;
    return { name, value: reader.string() };
  }

  #lookup(index: number): HeaderField {
    if (index === 0) throw new HpackError('index 0');
    if (index <= STATIC_TABLE.length) {
      const [name, value] = STATIC_TABLE[index - 1]!;
      return { name, value };
    }
    const entry = this.#entries[index - STATIC_TABLE.length - 1];
    if (!entry) throw new HpackError(`index ${index} is beyond the dynamic table`);
    return entry;
  }

  #insert(field: HeaderField): void {
    const size = field.name.length + field.value.length + 32;
    if (size > this.#maxSize) {
      this.#entries = [];
      this.#size = 0;
      return;
    }
    this.#evict(size);
    this.#entries.unshift(field);
    this.#size += size;
  }

  #evict(incoming: number): void {
    while (this.#entries.length > 0 && this.#size + incoming > this.#maxSize) {
      const last = this.#entries.pop()!;
      this.#size -= last.name.length + last.value.length + 32;
    }
  }
}

function writeInteger(out: number[], value: number, prefixBits: number, flags: number): void {
  const max = (1 << prefixBits) - 1;
  if (value < max) {
    out.push(flags | value);
    return;
  }
  out.push(flags | max);
  let rest = value - max;
  while (rest >= 0x80) {
    out.push((rest % 0x80) | 0x80);
    rest = Math.floor(rest / 0x80);
  }
  out.push(rest);
}

function writeString(out: number[], text: string): void {
  writeInteger(out, text.length, 7, 0);
  for (let i = 0; i < text.length; i++) out.push(text.charCodeAt(i) & 0xff);
}

/** Every field as a literal without indexing, with a literal name: the receiver's dynamic table is left alone. */
export function encodeLiterals(fields: readonly HeaderField[]): Uint8Array {
  const out: number[] = [];
  for (const field of fields) {
    out.push(0x00);
    writeString(out, field.name);
    writeString(out, field.value);
  }
  return Uint8Array.from(out);
}
