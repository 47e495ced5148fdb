/**
 * The one formatter of validation errors (docs/DESIGN.md, "Configuration"):
 * every zod schema of the project (run configs, method options, prompt
 * templates, model-family configs) reports bad input the same way, naming
 * what was parsed, where it came from (a file, or 'command line') and each
 * bad field's path:
 *
 *   invalid configuration (runs/x.json):
 *     field 'train.epochs': Too small: expected number to be >=1
 *
 * This module sits at the bottom layer (util/) so lower layers (lm/, data/)
 * can use it without importing anything above them.
 */
import type { z } from 'zod';

/** The path of one issue as `a.b.1`, or `(root)` for the top level. */
export function issuePath(path: readonly PropertyKey[]): string {
  return path.length ? path.map(String).join('.') : '(root)';
}

/**
 * `<what> (<where>):` followed by one `  field '<path>': <message>` line per
 * issue. `where` is omitted from the heading when `what` already names it.
 */
export function zodMessage(what: string, err: z.ZodError, where?: string): string {
  const head = where ? `${what} (${where})` : what;
  return `${head}:\n${err.issues.map((i) => `  field '${issuePath(i.path)}': ${i.message}`).join('\n')}`;
}

/**
 * Validates `raw` with `schema`; on failure throws `new Err(zodMessage(...))`
 * (default Error), so callers keep their own error class.
 */
export function parseWith<S extends z.ZodType>(schema: S, raw: unknown, what: string, where?: string, Err: new (message: string) => Error = Error): z.output<S> {
  const r = schema.safeParse(raw);
  if (!r.success) throw new Err(zodMessage(what, r.error, where));
  return r.data;
}
