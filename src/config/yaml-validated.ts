/**
 * YAML files validated against a zod schema, with errors that point at lines.
 *
 * The load generator's YAML scenarios and the probe's checks files both want
 * the same thing: a YAML syntax error names its line, and a schema issue
 * names the line of the deepest node on its path that exists in the file.
 * Each caller keeps its own error type and its own wording of the issues.
 */
import { isNode, LineCounter, parseDocument } from 'yaml';
import type { z } from 'zod';

/** Maps a schema issue's path to the 1-based line of the nearest node that exists, if any. */
export type LineOf = (path: readonly PropertyKey[]) => number | undefined;

export interface YamlValidation {
  /** Builds the caller's typed error from a message that already names the file. */
  readonly fail: (message: string) => Error;
  /** Words the schema's issues; `lineOf` finds their lines. */
  readonly formatIssues: (issues: readonly z.core.$ZodIssue[], lineOf: LineOf) => string;
}

/** Parses `text` as YAML and validates it; `file` names it in errors. Throws what `fail` builds. */
export function parseYamlValidated<Schema extends z.ZodType>(text: string, file: string, schema: Schema, validation: YamlValidation): z.output<Schema> {
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { lineCounter, prettyErrors: true });
  if (document.errors.length > 0) {
    const first = document.errors[0]!;
    throw validation.fail(`${file}: line ${first.linePos?.[0]?.line ?? '?'}: ${first.message.split('\n')[0]}`);
  }
  const result = schema.safeParse(document.toJS());
  if (result.success) return result.data;
  const lineOf: LineOf = (path) => {
    for (let length = path.length; length >= 0; length--) {
      const node = document.getIn(path.slice(0, length) as unknown[], true);
      if (isNode(node) && node.range) return lineCounter.linePos(node.range[0]).line;
    }
    return undefined;
  };
  throw validation.fail(`${file}: ${validation.formatIssues(result.error.issues, lineOf)}`);
}
