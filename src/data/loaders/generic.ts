/**
 * Generic loader for CSV / TSV / JSON-lines interaction files (optionally
 * gzipped) and Parquet files (parquet.ts) with a column mapping
 * `{ user?, item?, rating?, time?, timeUnit? }` and an optional item file
 * mapping `{ path, item?, title?, attributes? }` (docs/DATA.md).
 *
 * Columns are header names (matched exactly, else by the part before ':' so
 * RecBole atomic headers like `user_id:token` work) or 0-based indices (the
 * only choice for files without a header); for JSON lines they are keys.
 * Columns not given are found from the header's names (header.ts:
 * user/user_id/userId, item/item_id/movieId/asin, rating/score,
 * timestamp/time/ts/date, ...); `null` switches the rating or time column
 * off. The delimiter comes from the extension (.csv ',', .tsv/.tab tab,
 * .json/.jsonl/.ndjson JSON lines) or, with a header, from the header line
 * (the one of tab , ; | that splits it into recognised columns); `delimiter`
 * overrides. Double quotes (RFC 4180) are honoured in ',' files and taken
 * literally elsewhere (MovieLens, RecBole and HetRec tab files are
 * unquoted); `quotes` overrides. Times: 's' (default for a given column),
 * 'ms' or 'us' unix numbers, 'iso' date strings, or 'auto' (default for a
 * column found from the header: the first value decides, header.ts
 * TimeReader); stored as unix seconds.
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
import { checkRating, parseRating } from './numbers.js';
import { TimeReader, extensionDelimiter, sniffDelimiter } from './header.js';
import { type Column, type FileLayout, type GenericColumns, type GenericItemFile, attributeSpec, columnIndex, completeColumns, itemColumns } from './columns.js';

export type { Column, FileLayout, GenericColumns, GenericItemFile } from './columns.js';
import { isParquet, loadParquet, readParquetItemFile } from './parquet.js';

export { ISO_DATE_RE } from './header.js';

export interface GenericOptions extends LoadOptions, FileLayout {
  /** Column mapping (default: every column found from the header). */
  columns?: GenericColumns;
  items?: GenericItemFile;
}

type Kind = { json: true } | { json: false; delimiter: string };

async function kindOf(file: string, layout: FileLayout): Promise<Kind> {
  if (layout.delimiter !== undefined) return { json: false, delimiter: layout.delimiter };
  const ext = basename(file).toLowerCase().replace(/\.gz$/, '');
  if (/\.(jsonl|ndjson|json)$/.test(ext)) return { json: true };
  const first = await firstLine(file, layout.encoding ?? 'utf8');
  if (first !== null && first.trimStart().startsWith('{') && extensionDelimiter(file) === undefined) return { json: true };
  if ((layout.header ?? true) && first !== null) return { json: false, delimiter: sniffDelimiter(first, file) };
  return { json: false, delimiter: extensionDelimiter(file) ?? (first !== null && first.includes('\t') ? '\t' : ',') };
}

function get(f: string[], i: number, name: string): string {
  const v = f[i];
  if (v === undefined) throw new RowError(name, `missing (record has ${f.length} fields)`);
  return v;
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

/** Reads an item file into external id -> ItemMeta (only ids accepted by `keep`, when given). */
export async function readItemFile(
  spec: GenericItemFile,
  opts: { skipBadRows?: boolean; keep?: (id: string) => boolean } = {},
): Promise<{ items: Map<string, ItemMeta>; skipped: number }> {
  const file = spec.path;
  if (await isParquet(file)) return readParquetItemFile(spec, opts);
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
    let itemKey = spec.item !== undefined ? String(spec.item) : '';
    let titleKey = spec.title !== undefined ? String(spec.title) : '';
    let first = true;
    const skipped = await forEachLine(file, { encoding: spec.encoding, skipBadRows: opts.skipBadRows }, (line, lineNo, invalid) => {
      const obj = parseJsonObject(line);
      if (first) {
        first = false;
        const c = itemColumns(file, lineNo, Object.keys(obj), spec);
        itemKey = String(c.item);
        titleKey = String(c.title);
      }
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
  let names = { item: String(spec.item ?? 'item'), title: String(spec.title ?? 'title') };
  const resolve = (header: string[] | null, lineNo: number): NonNullable<typeof cols> => {
    const c = itemColumns(file, lineNo, header, spec);
    names = { item: String(c.item), title: String(c.title) };
    return {
    item: columnIndex(file, lineNo, header, c.item, 'item'),
    title: columnIndex(file, lineNo, header, c.title, 'title'),
    attrs: attrs.map(([key, c]) => {
      const i = columnIndex(file, lineNo, header, c, 'attribute');
      return [key ?? (header !== null ? header[i].trim().split(':')[0] : `attr${i}`), i];
    }),
    };
  };
  if (!hasHeader) cols = resolve(null, 0);
  const skipped = await forEachRecord(file, kind.delimiter, { encoding: spec.encoding, skipBadRows: opts.skipBadRows, quotes: spec.quotes ?? kind.delimiter === ',' }, (f, lineNo, invalid) => {
    if (cols === null) {
      cols = resolve(f, lineNo);
      return;
    }
    const id = parseId(get(f, cols.item, names.item), names.item);
    const title = get(f, cols.title, names.title);
    checkText(invalid, names.title, title);
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

/**
 * Loads a CSV/TSV/JSON-lines or Parquet interaction file; columns not given
 * are found from the header (a relative items.path may be next to it).
 */
export async function loadGeneric(path: string, opts: GenericOptions = {}): Promise<RawDataset> {
  if (existsSync(path) && statSync(path).isDirectory()) throw new DataError(path, undefined, undefined, 'the generic loader needs a file, not a folder');
  const file = path;
  if (opts.items !== undefined) opts = { ...opts, items: { ...opts.items, path: siblingPath(file, opts.items.path) } };
  if (await isParquet(file)) return withItems(file, opts, (push) => loadParquet(file, opts, push));
  const c = opts.columns ?? {};
  const kind = await kindOf(file, opts);
  return withItems(file, opts, async (start) => {
    if (kind.json) {
      let cols: ReturnType<typeof completeColumns> | null = null;
      let k = { user: '', item: '', rating: '', time: '' };
      let push: Push | null = null;
      let times: TimeReader | null = null;
      const skipped = await forEachLine(file, { encoding: opts.encoding, skipBadRows: opts.skipBadRows }, (line, lineNo, invalid) => {
        const obj = parseJsonObject(line);
        if (cols === null) {
          cols = completeColumns(file, lineNo, Object.keys(obj), c, '');
          k = { user: String(cols.user), item: String(cols.item), rating: String(cols.rating ?? ''), time: String(cols.time ?? '') };
          push = start(cols.time !== undefined, cols.rating !== undefined);
          times = new TimeReader(cols.unit);
        }
        const user = jsonId(obj, k.user);
        const item = jsonId(obj, k.item);
        const rating = cols.rating !== undefined ? checkRating(jsonNumber(obj, k.rating), k.rating) : 0;
        const time = cols.time !== undefined ? (times as TimeReader).read(jsonScalar(obj, k.time), k.time) : 0;
        if (invalid) checkJsonText(true, obj);
        (push as Push)(user, item, time, rating, k.item);
      });
      return skipped;
    }
    const hasHeader = opts.header ?? true;
    let idx: { user: number; item: number; rating: number; time: number } | null = null;
    let n = { user: '', item: '', rating: '', time: '' };
    let push: Push | null = null;
    let times = new TimeReader('s');
    const resolve = (header: string[] | null, lineNo: number): NonNullable<typeof idx> => {
      const cols = completeColumns(file, lineNo, header, c, kind.delimiter);
      const name = (col: Column | undefined, i: number, fallback: string): string =>
        col === undefined ? fallback : typeof col === 'string' ? col : header !== null && header[i] !== undefined ? header[i].trim() : String(col);
      const r = {
        user: columnIndex(file, lineNo, header, cols.user, 'user'),
        item: columnIndex(file, lineNo, header, cols.item, 'item'),
        rating: cols.rating !== undefined ? columnIndex(file, lineNo, header, cols.rating, 'rating') : -1,
        time: cols.time !== undefined ? columnIndex(file, lineNo, header, cols.time, 'time') : -1,
      };
      n = { user: name(cols.user, r.user, 'user'), item: name(cols.item, r.item, 'item'), rating: name(cols.rating, r.rating, 'rating'), time: name(cols.time, r.time, 'time') };
      push = start(r.time >= 0, r.rating >= 0);
      times = new TimeReader(cols.unit);
      return r;
    };
    if (!hasHeader) idx = resolve(null, 0);
    // Every record must have as many fields as the header (or, without one, the first record):
    // an extra field is a shifted column (e.g. a decimal comma in a ',' file), never ignored.
    let width = 0;
    return forEachRecord(file, kind.delimiter, { encoding: opts.encoding, skipBadRows: opts.skipBadRows, quotes: opts.quotes ?? kind.delimiter === ',' }, (f, lineNo, invalid) => {
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
      const time = idx.time >= 0 ? times.read(get(f, idx.time, n.time), n.time) : 0;
      (push as Push)(user, item, time, rating, n.item);
    });
  });
}

/** Adds one validated row (the item field is named when the item is not in a required item file). */
export type Push = (user: string, item: string, time: number, rating: number, itemField: string) => void;

/**
 * The part every interaction format shares: the item file (read first when
 * required, else after the rows for the interacted items only), the builder
 * (created by `start` once the columns are known) and the result.
 */
async function withItems(
  file: string,
  opts: GenericOptions,
  read: (start: (hasTime: boolean, hasRating: boolean) => Push) => Promise<number>,
): Promise<RawDataset> {
  let required: Map<string, ItemMeta> | null = null;
  let itemSkipped = 0;
  if (opts.items?.required) {
    const r = await readItemFile(opts.items, { skipBadRows: opts.skipBadRows });
    required = r.items;
    itemSkipped = r.skipped;
  }
  const itemName = basename(opts.items?.path ?? '');
  let b: RowBuilder | null = null;
  const start = (hasTime: boolean, hasRating: boolean): Push => {
    const builder = new RowBuilder(hasTime, hasRating);
    b = builder;
    return (user, item, time, rating, itemField) => {
      if (required !== null && !required.has(item)) throw new RowError(itemField, `item '${item}' is not in ${itemName}`);
      builder.push(user, item, time, rating);
    };
  };
  const skipped = await read(start);
  const built: RowBuilder = b ?? new RowBuilder(false, false);
  requireRows(built, file, skipped);
  if (required !== null) attachMeta(built, required);
  else if (opts.items !== undefined) {
    const r = await readItemFile(opts.items, { skipBadRows: opts.skipBadRows, keep: (id) => built.items.get(id) !== undefined });
    itemSkipped = r.skipped;
    attachMeta(built, r.items);
  }
  return built.build(opts.name ?? defaultName(file, false), file, skipped + itemSkipped);
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
  const columns: GenericColumns = { user: 'user_id', item: 'item_id', rating: cols.includes('rating') ? 'rating' : null, time: cols.includes('timestamp') ? 'timestamp' : null, timeUnit: 's' };
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
