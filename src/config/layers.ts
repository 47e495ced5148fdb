/**
 * How every command builds its configuration (docs/DESIGN.md, "Configuration"):
 *
 *   built-in defaults  <  method defaults  <  config file  <  flags
 *
 * Built-in defaults are the schemas' defaults; method defaults are what a
 * method changes of them (e.g. RecSysLLM keeps every rating: ratingThreshold
 * null); the config file (JSON) overrides both, and a flag given on the
 * command line overrides the file. Layers are plain objects deep-merged
 * (arrays and scalars replace; `undefined` means "not given"), validated once
 * at the end, and every error names the file and the field path.
 */
import { readFileSync } from 'node:fs';
import type { z } from 'zod';
import { parseWith } from '../util/validate.js';

export class ConfigError extends Error {}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Deep merge of plain objects (arrays and scalars replace; undefined values are skipped). */
export function deepMerge(base: Obj, over: Obj): Obj {
  const out: Obj = { ...base };
  for (const [k, v] of Object.entries(over)) {
    if (v === undefined) continue;
    const b = out[k];
    out[k] = isObj(v) && isObj(b) ? deepMerge(b, v) : v;
  }
  return out;
}

/** Merges layers lowest first (see the module comment). */
export function mergeLayers(...layers: ReadonlyArray<Obj | undefined>): Obj {
  return layers.reduce<Obj>((acc, l) => (l ? deepMerge(acc, l) : acc), {});
}

/**
 * Line and column (1-based) of a JSON.parse error in `text`, from the
 * character position V8 reports ("... at position 46"); the end of the text
 * when the input ended early. Null when the message has neither.
 */
export function jsonErrorLocation(text: string, message: string): { line: number; column: number } | null {
  const m = /position (\d+)/.exec(message);
  const pos = m ? Number(m[1]) : /end of JSON input|Unterminated/.test(message) ? text.length : -1;
  if (pos < 0) return null;
  const before = text.slice(0, pos);
  const line = before.split(/\r\n|\r|\n/).length;
  const column = pos - Math.max(before.lastIndexOf('\n'), before.lastIndexOf('\r')) ;
  return { line, column };
}

/**
 * Reads a JSON config file (clear errors for missing files and bad JSON,
 * naming file, line and column); a UTF-8 byte-order mark, as some Windows
 * editors write, is dropped.
 */
export function readConfigFile(path: string): Obj {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError(`cannot read config file ${path}: ${(e as Error).message}`);
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    // V8's message quotes the text around the error; the location says where without it.
    const msg = (e as Error).message;
    const at = jsonErrorLocation(text, msg);
    const what = msg.replace(/,? *"[^"]*"\.{3}.*$/s, '').replace(/ in JSON at position \d+.*$/s, '').replace(/ \(line \d+ column \d+\)$/, '');
    throw new ConfigError(`config file ${path}${at ? `, line ${at.line}, column ${at.column}` : ''}: not valid JSON (${what})`);
  }
  if (!isObj(v)) throw new ConfigError(`config file ${path}: the top level must be a JSON object ({ ... }), got ${Array.isArray(v) ? 'a list' : v === null ? 'null' : typeof v}`);
  return v;
}

/** Where a merged configuration came from, for error messages. */
export function origin(file: string | undefined): string {
  return file ? `${file} + command line` : 'command line';
}

/** Validates merged layers with `schema`; errors (ConfigError) name `what`, the origin and each field path. */
export function resolveLayers<S extends z.ZodType>(schema: S, what: string, file: string | undefined, layers: ReadonlyArray<Obj | undefined>): z.output<S> {
  return parseWith(schema, mergeLayers(...layers), what, origin(file), ConfigError);
}

/** Drops undefined entries (a flag not given) so they do not override lower layers. */
export function given(o: Obj): Obj {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}

/** `--rating-threshold`: a number, or 'none' (keep every rating) as null; undefined when not given. */
export function ratingThresholdFlag(v: string | undefined): number | null | undefined {
  if (v === undefined) return undefined;
  if (v === 'none') return null;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n)) throw new ConfigError(`--rating-threshold: '${v}' is not a number or 'none'`);
  return n;
}
