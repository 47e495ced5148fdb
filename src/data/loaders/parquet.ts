/**
 * Parquet interaction and item files (docs/DATA.md, "Parquet"), read with
 * hyparquet (pure JavaScript, no native code; docs/DESIGN.md, dependencies)
 * and hyparquet-compressors (gzip, zstd, brotli, lz4 besides snappy).
 *
 * The column mapping is the generic loader's (columns.ts): names or 0-based
 * indices of the top-level columns, the ones not given found from the
 * column names (header.ts). The file is read one row group at a time and
 * only the mapped columns, so memory is bounded by a row group, not the
 * file. Values are checked like CSV fields: ids are strings or integers
 * (INT64 as bigint, never rounded), ratings finite numbers, times numbers
 * in the time unit, TIMESTAMP/DATE columns, or ISO text. A bad value is a
 * DataError naming the file, the row group, the row and the column (or a
 * skipped row with skipBadRows).
 */
import { open } from 'node:fs/promises';
import { existsSync, statSync } from 'node:fs';
import { asyncBufferFromFile, parquetMetadataAsync, parquetRead, parquetSchema, type AsyncBuffer, type FileMetaData } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import { DataError } from '../errors.js';
import type { ItemMeta } from '../types.js';
import { own } from './builder.js';
import { type GenericColumns, type GenericItemFile, attributeSpec, columnIndex, completeColumns, itemColumns } from './columns.js';
import { TimeReader } from './header.js';
import { checkRating, jsonNumberId, parseRating } from './numbers.js';
import { RowError, clip } from './row_error.js';
import { parseId } from './common.js';

const PARQUET_RE = /\.(parquet|pq)$/i;

/** Whether a file is Parquet: a .parquet/.pq name, or the 'PAR1' magic bytes at its start. */
export async function isParquet(file: string): Promise<boolean> {
  if (PARQUET_RE.test(file)) return true;
  if (!existsSync(file) || !statSync(file).isFile()) return false;
  const fh = await open(file, 'r');
  try {
    const b = Buffer.alloc(4);
    const { bytesRead } = await fh.read(b, 0, 4, 0);
    return bytesRead === 4 && b.toString('latin1') === 'PAR1';
  } finally {
    await fh.close();
  }
}

interface Opened {
  buf: AsyncBuffer;
  meta: FileMetaData;
  /** Top-level column names. */
  names: string[];
  /** Whether each top-level column is a primitive (not a list, map or struct). */
  primitive: boolean[];
}

async function openParquet(file: string): Promise<Opened> {
  if (!existsSync(file)) throw new DataError(file, undefined, undefined, 'file not found');
  if (!statSync(file).isFile()) throw new DataError(file, undefined, undefined, 'not a regular file');
  try {
    const buf = await asyncBufferFromFile(file);
    const meta = await parquetMetadataAsync(buf);
    const schema = parquetSchema(meta);
    return { buf, meta, names: schema.children.map((c) => c.element.name), primitive: schema.children.map((c) => c.children.length === 0) };
  } catch (e) {
    throw new DataError(file, undefined, undefined, `not a readable Parquet file: ${(e as Error).message}`);
  }
}

/** Calls `fn` on each row group's rows (arrays of the requested columns, in order). */
async function forEachGroup(file: string, p: Opened, columns: string[], fn: (rows: unknown[][], group: number, firstRow: number) => void): Promise<void> {
  let start = 0;
  for (let g = 0; g < p.meta.row_groups.length; g++) {
    const n = Number(p.meta.row_groups[g].num_rows);
    let rows: unknown[][] = [];
    try {
      await parquetRead({ file: p.buf, metadata: p.meta, columns, rowStart: start, rowEnd: start + n, compressors, onComplete: (r: unknown[][]) => { rows = r; } });
    } catch (e) {
      throw new DataError(file, undefined, undefined, `row group ${g}: cannot decode: ${(e as Error).message}`);
    }
    fn(rows, g, start);
    start += n;
  }
}

const typeName = (v: unknown): string => (v instanceof Date ? 'a date' : v instanceof Uint8Array ? 'binary bytes' : Array.isArray(v) ? 'a list' : typeof v === 'object' ? 'an object' : `a ${typeof v}`);

/** An id: a string, or an integer (bigint for INT64: exact at any size). */
function idOf(v: unknown, field: string): string {
  if (v === null || v === undefined) throw new RowError(field, 'missing (null)');
  if (typeof v === 'string') return parseId(v, field);
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'number') return jsonNumberId(v, field);
  throw new RowError(field, `expected a string or integer id, got ${typeName(v)}`);
}

function ratingOf(v: unknown, field: string): number {
  if (v === null || v === undefined) throw new RowError(field, 'missing (null)');
  if (typeof v === 'number') return checkRating(v, field);
  if (typeof v === 'bigint') return checkRating(Number(v), field);
  if (typeof v === 'string') return parseRating(v, field);
  throw new RowError(field, `expected a number, got ${typeName(v)}`);
}

function timeOf(times: TimeReader, v: unknown, field: string): number {
  if (v === null || v === undefined) throw new RowError(field, 'missing (null)');
  if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'string' || v instanceof Date) return times.read(v, field);
  throw new RowError(field, `expected a number, a date or ISO text, got ${typeName(v)}`);
}

/** The names of the mapped columns (each a primitive column of the file). */
function mapped(file: string, p: Opened, cols: Array<[string, string | number | undefined]>): Array<string | undefined> {
  return cols.map(([role, c]) => {
    if (c === undefined) return undefined;
    const i = columnIndex(file, undefined, p.names, c, role);
    if (i >= p.names.length) throw new DataError(file, undefined, role, `column index ${i} is out of range (the file has ${p.names.length} columns: ${p.names.join(', ')})`);
    if (!p.primitive[i]) throw new DataError(file, undefined, p.names[i], 'is a nested column (list, map or struct); map a plain column');
    return p.names[i];
  });
}

/** Runs one row: a RowError becomes a DataError naming row group, row and column, or a skipped row. */
function rowRunner(file: string, skipBadRows: boolean | undefined): { run: (g: number, row: number, fn: () => void) => void; skipped: () => number } {
  let skipped = 0;
  return {
    run: (g, row, fn) => {
      try {
        fn();
      } catch (e) {
        if (!(e instanceof RowError)) throw e;
        if (skipBadRows) skipped++;
        else throw new DataError(file, undefined, e.field, `row group ${g}, row ${row} (0-based, in the file): ${e.message}`);
      }
    },
    skipped: () => skipped,
  };
}

/**
 * Reads a Parquet interaction file through `start` (the generic loader's
 * builder, generic.ts); returns the number of skipped rows.
 */
export async function loadParquet(
  file: string,
  opts: { columns?: GenericColumns; skipBadRows?: boolean },
  start: (hasTime: boolean, hasRating: boolean) => (user: string, item: string, time: number, rating: number, itemField: string) => void,
): Promise<number> {
  const p = await openParquet(file);
  const cols = completeColumns(file, undefined, p.names, opts.columns ?? {}, '');
  const [user, item, rating, time] = mapped(file, p, [['user', cols.user], ['item', cols.item], ['rating', cols.rating], ['time', cols.time]]);
  const wanted = [...new Set([user, item, rating, time].filter((c): c is string => c !== undefined))];
  const at = (c: string | undefined): number => (c === undefined ? -1 : wanted.indexOf(c));
  const iu = at(user), ii = at(item), ir = at(rating), it = at(time);
  const push = start(it >= 0, ir >= 0);
  const times = new TimeReader(cols.unit);
  const rows = rowRunner(file, opts.skipBadRows);
  await forEachGroup(file, p, wanted, (group, g, first) => {
    for (let r = 0; r < group.length; r++) {
      const v = group[r];
      rows.run(g, first + r, () => {
        const u = idOf(v[iu], user as string);
        const i = idOf(v[ii], item as string);
        const rt = ir >= 0 ? ratingOf(v[ir], rating as string) : 0;
        const t = it >= 0 ? timeOf(times, v[it], time as string) : 0;
        push(u, i, t, rt, item as string);
      });
    }
  });
  return rows.skipped();
}

/** Text of an attribute value of a Parquet item file. */
function textOf(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') return String(v);
  if (v instanceof Date) return v.toISOString();
  if (Array.isArray(v)) return v.map(textOf).filter((s) => s !== '').join(', ');
  return JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x));
}

/** Reads a Parquet item file into external id -> ItemMeta (only ids accepted by `keep`, when given). */
export async function readParquetItemFile(
  spec: GenericItemFile,
  opts: { skipBadRows?: boolean; keep?: (id: string) => boolean } = {},
): Promise<{ items: Map<string, ItemMeta>; skipped: number }> {
  const file = spec.path;
  const p = await openParquet(file);
  const c = itemColumns(file, undefined, p.names, spec);
  const attrs = attributeSpec(spec.attributes);
  const [item, title, ...attrCols] = mapped(file, p, [['item', c.item], ['title', c.title], ...attrs.map(([, col]): [string, string | number] => ['attribute', col])]) as string[];
  const wanted = [...new Set([item, title, ...attrCols])];
  const ii = wanted.indexOf(item), it = wanted.indexOf(title);
  const ia = attrCols.map((a, k) => [attrs[k][0] ?? a, wanted.indexOf(a)] as const);
  const items = new Map<string, ItemMeta>();
  const rows = rowRunner(file, opts.skipBadRows);
  await forEachGroup(file, p, wanted, (group, g, first) => {
    for (let r = 0; r < group.length; r++) {
      const v = group[r];
      rows.run(g, first + r, () => {
        const id = idOf(v[ii], item);
        if ((opts.keep !== undefined && !opts.keep(id)) || items.has(id)) return;
        const t = v[it];
        if (t !== null && t !== undefined && typeof t !== 'string') throw new RowError(title, `expected text, got ${typeName(t)} '${clip(textOf(t))}'`);
        const attributes: Record<string, string> = {};
        for (const [key, k] of ia) {
          const s = textOf(v[k]).trim();
          if (s !== '') attributes[key] = own(s);
        }
        items.set(own(id), { title: own(t ?? ''), attributes });
      });
    }
  });
  return { items, skipped: rows.skipped() };
}
