/**
 * Opening a run directory (docs/DESIGN.md, "The run layer"). A run directory
 * holds the options or configuration it was started with; resuming checks
 * them BEFORE anything is written, so a mismatched resume leaves the
 * directory as it was.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { readJson, writeJson } from './files.js';

export interface OpenRunDirOptions {
  /** The file holding the options (default options.json). */
  file?: string;
  /** Keys that may change between runs of one directory (they add rows or change the evaluation size). */
  mutable?: readonly string[];
  resume: boolean;
}

/** Throws when `dir/<file>` exists and holds different options (except the mutable keys). */
export function checkRunOptions(dir: string, options: Record<string, unknown>, o: OpenRunDirOptions): void {
  const file = join(dir, o.file ?? 'options.json');
  if (!o.resume || !existsSync(file)) return;
  const mutable = o.mutable ?? [];
  const strip = (x: Record<string, unknown>) => JSON.stringify({ ...x, ...Object.fromEntries(mutable.map((k) => [k, null])) });
  if (strip(readJson(file)) !== strip(options)) throw new Error(`resume: ${file} holds different options than this run; start a new run directory or pass the same options`);
}

/** Checks the options on resume (before writing), then creates `dir` and writes the options file. */
export function openRunDir(dir: string, options: Record<string, unknown>, o: OpenRunDirOptions): void {
  checkRunOptions(dir, options, o);
  mkdirSync(dir, { recursive: true });
  writeJson(join(dir, o.file ?? 'options.json'), options);
}

/** A directory name made of a dataset name: path separators and odd characters replaced. */
export function safeName(name: string): string {
  return name.replace(/[^A-Za-z0-9._-]+/g, '_');
}
