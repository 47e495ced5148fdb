/**
 * Column mappings of the generic and Parquet loaders (docs/DATA.md): the
 * option types, and their resolution against a header (names, indices, and
 * the columns not given found from the header's names, header.ts).
 */
import { DataError } from '../errors.js';
import { HEADER_ALIASES, TITLE_ALIASES, type TimeUnit, headerColumns, itemFileColumns } from './header.js';
import type { TextEncoding } from './common.js';

/** A column: a header name (or JSON key), or a 0-based index. */
export type Column = string | number;

/**
 * Which column holds what. `user` and `item` not given are found from the
 * header (header.ts), and so are `rating` and `time` unless `null`.
 */
export interface GenericColumns {
  user?: Column;
  item?: Column;
  rating?: Column | null;
  time?: Column | null;
  /** Unit of the time column: unix seconds, milliseconds, microseconds, ISO-8601 strings, or 'auto' (see the module comment). */
  timeUnit?: TimeUnit;
}

/** Where the delimited/JSON-lines layout of a file is described. */
export interface FileLayout {
  /** Field delimiter; default from the extension or sniffed. */
  delimiter?: string;
  /** Whether the first record is a header (default true; JSON lines have none). */
  header?: boolean;
  /** Text encoding (default 'utf8'). */
  encoding?: TextEncoding;
  /** Honour RFC 4180 double quotes (default: true for ',' files, false for tab and other delimiters). */
  quotes?: boolean;
}

export interface GenericItemFile extends FileLayout {
  path: string;
  /** Item id column (default: found from the header, as the interactions' item column). */
  item?: Column;
  /** Title column (default: found from the header: title, name, item_name, movie_title, ...). */
  title?: Column;
  /** Attribute columns: a list (keys = header names / JSON keys) or { key: column }. */
  attributes?: Column[] | Record<string, Column>;
  /** Every interaction must refer to an item of this file (default false). */
  required?: boolean;
}

/** A column mapping with the columns not given found from a header (or JSON keys); errors name file and line. */
export function completeColumns(file: string, lineNo: number | undefined, header: string[] | null, c: GenericColumns, delimiter: string): {
  user: Column; item: Column; rating?: Column; time?: Column; unit: TimeUnit;
} {
  const found = header !== null && (c.user === undefined || c.item === undefined || c.rating === undefined || c.time === undefined)
    ? headerColumns(file, lineNo, header, delimiter, c)
    : null;
  const user = c.user ?? found?.user;
  const item = c.item ?? found?.item;
  if (user === undefined || item === undefined) {
    const missing = [user === undefined ? 'user' : null, item === undefined ? 'item' : null].filter(Boolean).join(' and ');
    throw new DataError(file, undefined, undefined, `the file has no header, so the ${missing} column must be given as a 0-based index (--${missing.split(' ')[0]}-col N)`);
  }
  const rating = c.rating === null ? undefined : c.rating ?? found?.rating;
  const time = c.time === null ? undefined : c.time ?? found?.time;
  // A time column found from the header reads its unit from the values unless one is given.
  const unit = c.timeUnit ?? (c.time === undefined && time !== undefined ? 'auto' : 's');
  return { user, item, ...(rating !== undefined ? { rating } : {}), ...(time !== undefined ? { time } : {}), unit };
}

/** Resolves named columns against a header (exact, then the part before ':'). */
export function columnIndex(file: string, lineNo: number | undefined, header: string[] | null, col: Column, role: string): number {
  if (typeof col === 'number') {
    if (!Number.isInteger(col) || col < 0) throw new Error(`${role} column index must be a non-negative integer, got ${col}`);
    return col;
  }
  if (header === null) throw new DataError(file, undefined, role, `column '${col}' given by name but the file has no header (use a 0-based index)`);
  const names = header.map((h) => h.trim());
  let i = names.indexOf(col);
  if (i < 0) i = names.findIndex((h) => h.split(':')[0] === col);
  if (i < 0) throw new DataError(file, lineNo, col, `missing column in header (found: ${names.join(', ')})`);
  return i;
}

export function attributeSpec(attrs: GenericItemFile['attributes']): Array<[string | null, Column]> {
  if (attrs === undefined) return [];
  if (Array.isArray(attrs)) return attrs.map((c) => [null, c]);
  return Object.entries(attrs);
}

/** The item-id and title columns of an item file: given, else found from its header (errors name file, line and what is missing). */
export function itemColumns(file: string, lineNo: number | undefined, header: string[] | null, spec: Pick<GenericItemFile, 'item' | 'title'>): { item: Column; title: Column } {
  const found = header !== null ? itemFileColumns(header) : {};
  const item = spec.item ?? found.item;
  const title = spec.title ?? found.title;
  if (item !== undefined && title !== undefined) return { item, title };
  const missing = [
    item === undefined ? `no item id column (one of: ${HEADER_ALIASES.item.join(', ')}; or --item-id-col)` : null,
    title === undefined ? `no title column (one of: ${TITLE_ALIASES.join(', ')}; or --title-col)` : null,
  ].filter(Boolean).join('; ');
  if (header === null) throw new DataError(file, undefined, undefined, `item file without a header: give its item id and title columns as 0-based indices (${missing})`);
  throw new DataError(file, lineNo, undefined, `cannot tell the columns of the item file from its header '${header.join(',').slice(0, 200)}': ${missing}`);
}

