/**
 * Generic loader for CSV / TSV / JSON-lines interaction files (optionally
 * gzipped) with a column mapping `{ user, item, rating?, time?, timeUnit? }`
 * and an optional item file mapping `{ path, item, title, attributes? }`.
 *
 * Columns are header names (matched exactly, else by the part before ':' so
 * RecBole atomic headers like `user_id:token` work) or 0-based indices (the
 * only choice for files without a header); for JSON lines they are keys.
 * The delimiter comes from the extension (.csv ',', .tsv/.tab tab, .json/
 * .jsonl/.ndjson JSON lines) or is sniffed from the first line (tab if it has
 * one, else ','); `delimiter` overrides. Double quotes (RFC 4180) are
 * honoured in ',' files and taken literally elsewhere (MovieLens, RecBole
 * and HetRec tab files are unquoted); `quotes` overrides. Times: 's' (default) or 'ms' unix
 * numbers, or 'iso' date strings; stored as unix seconds.
 *
 * An item file with `required: true` is read first and every interaction
 * must join it; otherwise it is read after the interactions and only entries
 * of interacted items are kept. `loadRecbole` is a preset for RecBole atomic
 * folders (`<name>.inter` + optional `<name>.item`).
 */
import { existsSync, statSync } from 'node:fs';
import { basename, dirname, isAbsolute, join } from 'node:path';
import { DataError } from '../errors.js';
import type { ItemMeta, RawDataset } from '../types.js';
import { RowBuilder, attachMeta, own, requireRows } from './builder.js';
import {
  type Json,
  type JsonObject,
  type LoadOptions,
  type TextEncoding,
  RowError,
  checkJsonText,
  checkText,
  defaultName,
  firstLine,
  forEachLine,
  forEachRecord,
  jsonId,
  jsonNumber,
  listDir,
  parseId,
  parseJsonObject,
} from './common.js';
import { checkRating, checkTime, parseRating, parseTime } from './numbers.js';

/** A column: a header name (or JSON key), or a 0-based index. */
export type Column = string | number;

export interface GenericColumns {
  user: Column;
  item: Column;
  rating?: Column;
  time?: Column;
  /** Unit of the time column: unix seconds (default), unix milliseconds, or ISO-8601 strings. */
  timeUnit?: 's' | 'ms' | 'iso';
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
  item: Column;
  title: Column;
  /** Attribute columns: a list (keys = header names / JSON keys) or { key: column }. */
  attributes?: Column[] | Record<string, Column>;
  /** Every interaction must refer to an item of this file (default false). */
  required?: boolean;
}

export interface GenericOptions extends LoadOptions, FileLayout {
  columns: GenericColumns;
  items?: GenericItemFile;
}

type Kind = { json: true } | { json: false; delimiter: string };

async function kindOf(file: string, layout: FileLayout): Promise<Kind> {
  if (layout.delimiter !== undefined) return { json: false, delimiter: layout.delimiter };
  const ext = basename(file).toLowerCase().replace(/\.gz$/, '');
  if (/\.(jsonl|ndjson|json)$/.test(ext)) return { json: true };
  if (ext.endsWith('.csv')) return { json: false, delimiter: ',' };
  if (/\.(tsv|tab)$/.test(ext)) return { json: false, delimiter: '\t' };
  const first = await firstLine(file, layout.encoding ?? 'utf8');
  if (first !== null && first.trimStart().startsWith('{')) return { json: true };
  return { json: false, delimiter: first !== null && first.includes('\t') ? '\t' : ',' };
}

/** Resolves named columns against a header (exact, then the part before ':'). */
function columnIndex(file: string, lineNo: number, header: string[] | null, col: Column, role: string): number {
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

function get(f: string[], i: number, name: string): string {
  const v = f[i];
  if (v === undefined) throw new RowError(name, `missing (record has ${f.length} fields)`);
  return v;
}

/** An ISO-8601 date or date-time (as Date.parse reads it: date-only is UTC, a date-time without offset local time). */
export const ISO_DATE_RE = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/;

function toSeconds(v: number | string, unit: 's' | 'ms' | 'iso', field: string): number {
  if (unit === 'iso') {
    // Strict ISO-8601 first: Date.parse alone also takes '4' (April 2001) or 'May 1 99'.
    if (typeof v !== 'string' || !ISO_DATE_RE.test(v.trim())) throw new RowError(field, `expected an ISO-8601 date, got '${String(v).slice(0, 40)}'`);
    const t = Date.parse(v.trim());
    if (!Number.isFinite(t)) throw new RowError(field, `expected an ISO-8601 date, got '${String(v).slice(0, 40)}'`);
    return checkTime(t / 1000, field);
  }
  if (typeof v === 'string') return parseTime(v, field, unit);
  return checkTime(unit === 'ms' ? v / 1000 : v, field);
}

function jsonScalar(obj: JsonObject, key: string): number | string {
  const v = obj[key];
  if (v === undefined || v === null) throw new RowError(key, 'missing');
  if (typeof v === 'number' || typeof v === 'string') return v;
  throw new RowError(key, 'expected a number or string');
}

/** Text of a JSON attribute value: strings as is, lists joined with ', ', objects as JSON. */
function jsonAttr(v: Json | undefined): string {
  if (v === undefined || v === null) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return v.map((x) => jsonAttr(x)).filter((s) => s !== '').join(', ');
  return JSON.stringify(v);
}

function attributeSpec(attrs: GenericItemFile['attributes']): Array<[string | null, Column]> {
  if (attrs === undefined) return [];
  if (Array.isArray(attrs)) return attrs.map((c) => [null, c]);
  return Object.entries(attrs);
}

/** Reads an item file into external id -> ItemMeta (only ids accepted by `keep`, when given). */
export async function readItemFile(
  spec: GenericItemFile,
  opts: { skipBadRows?: boolean; keep?: (id: string) => boolean } = {},
): Promise<{ items: Map<string, ItemMeta>; skipped: number }> {
  const file = spec.path;
  const kind = await kindOf(file, spec);
  const items = new Map<string, ItemMeta>();
  const attrs = attributeSpec(spec.attributes);
  const add = (id: string, meta: ItemMeta): void => {
    if ((opts.keep === undefined || opts.keep(id)) && !items.has(id)) {
      const attributes: Record<string, string> = {};
      for (const [k, v] of Object.entries(meta.attributes)) attributes[k] = own(v);
      items.set(own(id), { title: own(meta.title), attributes });
    }
  };
  if (kind.json) {
    const itemKey = String(spec.item);
    const titleKey = String(spec.title);
    const skipped = await forEachLine(file, { encoding: spec.encoding, skipBadRows: opts.skipBadRows }, (line, _n, invalid) => {
      const obj = parseJsonObject(line);
      checkJsonText(invalid, obj);
      const id = jsonId(obj, itemKey);
      const attributes: Record<string, string> = {};
      for (const [key, col] of attrs) {
        const v = jsonAttr(obj[String(col)]).trim();
        if (v !== '') attributes[key ?? String(col)] = v;
      }
      add(id, { title: jsonAttr(obj[titleKey]), attributes });
    });
    return { items, skipped };
  }
  const hasHeader = spec.header ?? true;
  let cols: { item: number; title: number; attrs: Array<[string, number]> } | null = null;
  const resolve = (header: string[] | null, lineNo: number): NonNullable<typeof cols> => ({
    item: columnIndex(file, lineNo, header, spec.item, 'item'),
    title: columnIndex(file, lineNo, header, spec.title, 'title'),
    attrs: attrs.map(([key, c]) => {
      const i = columnIndex(file, lineNo, header, c, 'attribute');
      return [key ?? (header !== null ? header[i].trim().split(':')[0] : `attr${i}`), i];
    }),
  });
  if (!hasHeader) cols = resolve(null, 0);
  const skipped = await forEachRecord(file, kind.delimiter, { encoding: spec.encoding, skipBadRows: opts.skipBadRows, quotes: spec.quotes ?? kind.delimiter === ',' }, (f, lineNo, invalid) => {
    if (cols === null) {
      cols = resolve(f, lineNo);
      return;
    }
    const id = parseId(get(f, cols.item, String(spec.item)), String(spec.item));
    const title = get(f, cols.title, String(spec.title));
    checkText(invalid, String(spec.title), title);
    const attributes: Record<string, string> = {};
    for (const [key, i] of cols.attrs) {
      const v = (f[i] ?? '').trim();
      checkText(invalid, key, v);
      if (v !== '') attributes[key] = v;
    }
    add(id, { title, attributes });
  });
  return { items, skipped };
}

/** A relative item-file path that does not exist from the working directory is taken next to the interactions file. */
function siblingPath(file: string, p: string): string {
  if (isAbsolute(p) || existsSync(p)) return p;
  return join(dirname(file), p);
}

/** Loads a CSV/TSV/JSON-lines interaction file with a column mapping (a relative items.path may be next to it). */
export async function loadGeneric(path: string, opts: GenericOptions): Promise<RawDataset> {
  if (opts === undefined || opts.columns === undefined) throw new Error('generic format needs a column mapping: { columns: { user, item, rating?, time? } }');
  if (existsSync(path) && statSync(path).isDirectory()) throw new DataError(path, undefined, undefined, 'the generic loader needs a file, not a folder');
  const file = path;
  const c = opts.columns;
  if (opts.items !== undefined) opts = { ...opts, items: { ...opts.items, path: siblingPath(file, opts.items.path) } };
  const unit = c.timeUnit ?? 's';
  const kind = await kindOf(file, opts);

  let required: Map<string, ItemMeta> | null = null;
  let itemSkipped = 0;
  if (opts.items?.required) {
    const r = await readItemFile(opts.items, { skipBadRows: opts.skipBadRows });
    required = r.items;
    itemSkipped = r.skipped;
  }
  const itemName = basename(opts.items?.path ?? '');
  const b = new RowBuilder(c.time !== undefined, c.rating !== undefined);
  const push = (user: string, item: string, time: number, rating: number, itemField: string): void => {
    if (required !== null && !required.has(item)) throw new RowError(itemField, `item '${item}' is not in ${itemName}`);
    b.push(user, item, time, rating);
  };

  let skipped: number;
  if (kind.json) {
    const key = (col: Column | undefined): string => String(col);
    skipped = await forEachLine(file, { encoding: opts.encoding, skipBadRows: opts.skipBadRows }, (line, _n, invalid) => {
      const obj = parseJsonObject(line);
      const user = jsonId(obj, key(c.user));
      const item = jsonId(obj, key(c.item));
      const rating = c.rating !== undefined ? checkRating(jsonNumber(obj, key(c.rating)), key(c.rating)) : 0;
      const time = c.time !== undefined ? toSeconds(jsonScalar(obj, key(c.time)), unit, key(c.time)) : 0;
      if (invalid) checkJsonText(true, obj);
      push(user, item, time, rating, key(c.item));
    });
  } else {
    const hasHeader = opts.header ?? true;
    let idx: { user: number; item: number; rating: number; time: number } | null = null;
    const resolve = (header: string[] | null, lineNo: number): NonNullable<typeof idx> => ({
      user: columnIndex(file, lineNo, header, c.user, 'user'),
      item: columnIndex(file, lineNo, header, c.item, 'item'),
      rating: c.rating !== undefined ? columnIndex(file, lineNo, header, c.rating, 'rating') : -1,
      time: c.time !== undefined ? columnIndex(file, lineNo, header, c.time, 'time') : -1,
    });
    if (!hasHeader) idx = resolve(null, 0);
    // Every record must have as many fields as the header (or, without one, the first record):
    // an extra field is a shifted column (e.g. a decimal comma in a ',' file), never ignored.
    let width = 0;
    const n = {
      user: String(c.user),
      item: String(c.item),
      rating: String(c.rating ?? 'rating'),
      time: String(c.time ?? 'time'),
    };
    skipped = await forEachRecord(file, kind.delimiter, { encoding: opts.encoding, skipBadRows: opts.skipBadRows, quotes: opts.quotes ?? kind.delimiter === ',' }, (f, lineNo, invalid) => {
      if (idx === null) {
        idx = resolve(f, lineNo);
        width = f.length;
        return;
      }
      if (width === 0) width = f.length;
      else if (f.length !== width) {
        throw new RowError(undefined, `record has ${f.length} fields, ${hasHeader ? 'the header has' : 'the first record has'} ${width} (a decimal comma or an unquoted delimiter?)`);
      }
      const uRaw = get(f, idx.user, n.user);
      const iRaw = get(f, idx.item, n.item);
      checkText(invalid, n.user, uRaw);
      checkText(invalid, n.item, iRaw);
      const user = parseId(uRaw, n.user);
      const item = parseId(iRaw, n.item);
      const rating = idx.rating >= 0 ? parseRating(get(f, idx.rating, n.rating), n.rating) : 0;
      const time = idx.time >= 0 ? toSeconds(get(f, idx.time, n.time), unit, n.time) : 0;
      push(user, item, time, rating, n.item);
    });
  }
  requireRows(b, file, skipped);
  if (required !== null) attachMeta(b, required);
  else if (opts.items !== undefined) {
    const r = await readItemFile(opts.items, { skipBadRows: opts.skipBadRows, keep: (id) => b.items.get(id) !== undefined });
    itemSkipped = r.skipped;
    attachMeta(b, r.items);
  }
  return b.build(opts.name ?? defaultName(file, false), file, skipped + itemSkipped);
}

const RECBOLE_TITLE_COLUMNS = ['title', 'movie_title', 'item_title', 'name'];

/** Loads a RecBole atomic folder (`<name>.inter` + optional `<name>.item`, tab-separated, `name:type` headers). */
export async function loadRecbole(path: string, opts: LoadOptions = {}): Promise<RawDataset> {
  const isDir = existsSync(path) && statSync(path).isDirectory();
  let inter = path;
  if (isDir) {
    const names = (await listDir(path)).filter((n) => n.endsWith('.inter'));
    if (names.length !== 1) {
      throw new DataError(path, undefined, undefined, names.length === 0 ? 'no .inter file' : `several .inter files, pass one: ${names.join(', ')}`);
    }
    inter = join(path, names[0]);
  }
  const header = (await firstLine(inter)) ?? '';
  const cols = header.split('\t').map((h) => h.trim().split(':')[0]);
  const columns: GenericColumns = { user: 'user_id', item: 'item_id' };
  if (cols.includes('rating')) columns.rating = 'rating';
  if (cols.includes('timestamp')) columns.time = 'timestamp';
  const itemPath = inter.replace(/\.inter$/, '.item');
  let items: GenericItemFile | undefined;
  if (existsSync(itemPath)) {
    const ih = ((await firstLine(itemPath)) ?? '').split('\t').map((h) => h.trim().split(':')[0]);
    const title = RECBOLE_TITLE_COLUMNS.find((t) => ih.includes(t));
    if (title !== undefined) {
      items = { path: itemPath, item: 'item_id', title, attributes: ih.filter((h) => h !== 'item_id' && h !== title), delimiter: '\t', quotes: false };
    }
  }
  return loadGeneric(inter, {
    ...opts,
    name: opts.name ?? (isDir ? basename(path) : defaultName(inter, false)),
    columns,
    delimiter: '\t',
    quotes: false,
    items,
  });
}
