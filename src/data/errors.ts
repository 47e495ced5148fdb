/**
 * DataError: the one error type of the data layer for bad input. It names the
 * file, the 1-based line (when known) and the field (when known), e.g.
 *
 *   ml-100k/u.data:17: field 'rating': expected a number, got 'x'
 *
 * Paths inside the data root are shown relative to it, paths under the
 * working directory relative to that, anything else absolute.
 */
import { isAbsolute, relative, resolve } from 'node:path';
import { dataRoot } from './resolve.js';

export { DatasetNotFoundError } from './resolve.js';

/** A short, readable form of a data file path for messages. */
export function displayPath(file: string): string {
  const abs = resolve(file);
  for (const base of [dataRoot(), process.cwd()]) {
    const rel = relative(base, abs);
    if (rel !== '' && !rel.startsWith('..') && !isAbsolute(rel)) return rel;
  }
  return abs;
}

/** Bad input data: which file, line (1-based) and field, and what was wrong. */
export class DataError extends Error {
  /** The file as given to the loader. */
  readonly file: string;
  /** 1-based line number, when the problem is on a line. */
  readonly line?: number;
  /** The field (column, JSON key) at fault, when known. */
  readonly field?: string;
  /** The description without the location prefix. */
  readonly detail: string;

  constructor(file: string, line: number | undefined, field: string | undefined, detail: string) {
    let where = displayPath(file);
    if (line !== undefined) where += `:${line}`;
    super(`${where}: ${field !== undefined ? `field '${field}': ` : ''}${detail}`);
    this.name = 'DataError';
    this.file = file;
    if (line !== undefined) this.line = line;
    if (field !== undefined) this.field = field;
    this.detail = detail;
  }
}
