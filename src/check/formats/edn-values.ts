/**
 * The few EDN forms Jepsen histories use: nil, integers, strings, keywords
 * (`:ok`), vectors (`[1 3]`) and flat maps (`{:process 0, :f :read}`).
 * Enough for the Jepsen log lines and the EDN-like maps; anything else is a
 * `SyntaxError` with the column, which the format readers turn into a
 * `KEEL_CHECK_MALFORMED_LINE`.
 */
export type EdnValue = null | number | string | Keyword | EdnValue[] | Map<string, EdnValue>;

/** A keyword, kept apart from strings so `:ok` and `"ok"` differ. */
export class Keyword {
  constructor(readonly name: string) {}
}

export class EdnSyntaxError extends Error {
  constructor(readonly column: number, reason: string) {
    super(`column ${column}: ${reason}`);
  }
}

/** Nesting deeper than this is refused (bounded recursion on hostile input). */
const DEPTH_MAX = 16;

export class EdnReader {
  position = 0;
  constructor(readonly text: string) {}

  skipSpace(): void {
    while (this.position < this.text.length && /[\s,]/.test(this.text[this.position] ?? '')) this.position += 1;
  }

  atEnd(): boolean {
    this.skipSpace();
    return this.position >= this.text.length;
  }

  read(depth = 0): EdnValue {
    if (depth > DEPTH_MAX) throw new EdnSyntaxError(this.position + 1, `nested deeper than ${DEPTH_MAX}`);
    this.skipSpace();
    const char = this.text[this.position];
    if (char === undefined) throw new EdnSyntaxError(this.position + 1, 'unexpected end of line');
    if (char === '"') return this.#string();
    if (char === '[') return this.#sequence(']', depth);
    if (char === '(') return this.#sequence(')', depth);
    if (char === '{') return this.#map(depth);
    const start = this.position;
    while (this.position < this.text.length && !/[\s,\]\)}\[\({"]/.test(this.text[this.position] ?? '')) this.position += 1;
    const token = this.text.slice(start, this.position);
    if (token === '') throw new EdnSyntaxError(start + 1, `unexpected ${JSON.stringify(char)}`);
    if (token === 'nil') return null;
    if (token.startsWith(':') && token.length > 1) return new Keyword(token.slice(1));
    if (/^[+-]?\d+$/.test(token)) {
      const value = Number(token);
      if (!Number.isSafeInteger(value)) throw new EdnSyntaxError(start + 1, `integer ${token} out of range`);
      return value;
    }
    throw new EdnSyntaxError(start + 1, `unsupported token ${JSON.stringify(token.slice(0, 40))}`);
  }

  #string(): string {
    const start = this.position;
    this.position += 1;
    let out = '';
    while (this.position < this.text.length) {
      const char = this.text[this.position] as string;
      this.position += 1;
      if (char === '"') return out;
      if (char !== '\\') {
        out += char;
        continue;
      }
      const escaped = this.text[this.position];
      this.position += 1;
      if (escaped === 'n') out += '\n';
      else if (escaped === 't') out += '\t';
      else if (escaped === '"' || escaped === '\\') out += escaped;
      else throw new EdnSyntaxError(this.position, `unsupported escape \\${escaped ?? ''}`);
    }
    throw new EdnSyntaxError(start + 1, 'unterminated string');
  }

  #sequence(close: string, depth: number): EdnValue[] {
    this.position += 1;
    const items: EdnValue[] = [];
    for (;;) {
      this.skipSpace();
      if (this.position >= this.text.length) throw new EdnSyntaxError(this.position + 1, `missing ${close}`);
      if (this.text[this.position] === close) {
        this.position += 1;
        return items;
      }
      items.push(this.read(depth + 1));
    }
  }

  #map(depth: number): Map<string, EdnValue> {
    this.position += 1;
    const map = new Map<string, EdnValue>();
    for (;;) {
      this.skipSpace();
      if (this.position >= this.text.length) throw new EdnSyntaxError(this.position + 1, 'missing }');
      if (this.text[this.position] === '}') {
        this.position += 1;
        return map;
      }
      const keyColumn = this.position + 1;
      const key = this.read(depth + 1);
      if (!(key instanceof Keyword)) throw new EdnSyntaxError(keyColumn, 'map keys must be keywords');
      if (this.atEnd()) throw new EdnSyntaxError(this.position + 1, `missing value for :${key.name}`);
      map.set(key.name, this.read(depth + 1));
    }
  }
}

/** Reads exactly one form from `text` (trailing text is an error). */
export function readEdn(text: string): EdnValue {
  const reader = new EdnReader(text);
  const value = reader.read();
  if (!reader.atEnd()) throw new EdnSyntaxError(reader.position + 1, 'trailing text');
  return value;
}
