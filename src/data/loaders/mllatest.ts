/**
 * MovieLens "latest" / 20M / 25M / 32M loader (CSV with a header, UTF-8):
 * `ratings.csv` (userId,movieId,rating,timestamp; unix s) and `movies.csv`
 * (movieId,title,genres; titles quoted when they hold commas or quotes)
 * -> ItemMeta { title, attributes: genre (comma-joined) }. movies.csv, when
 * present, is a required item table. Columns are found by header name.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DataError } from '../errors.js';
import type { ItemMeta, RawDataset } from '../types.js';
import { RowBuilder, attachMeta, requireRows } from './builder.js';
import { type LoadOptions, RowError, checkText, defaultName, forEachRecord, parseId, target } from './common.js';
import { parseRating, parseTime } from './numbers.js';

/**
 * Maps required column names (case-insensitive) to their indices in a header
 * record; a missing one is a DataError naming the file, header line and column.
 */
export function headerIndex(file: string, lineNo: number, header: string[], names: readonly string[]): number[] {
  const lower = header.map((h) => h.trim().toLowerCase());
  return names.map((n) => {
    const i = lower.indexOf(n.toLowerCase());
    if (i < 0) throw new DataError(file, lineNo, n, `missing column in header (found: ${header.join(', ')})`);
    return i;
  });
}

function field(f: string[], i: number, name: string): string {
  const v = f[i];
  if (v === undefined) throw new RowError(name, `missing (record has ${f.length} fields)`);
  return v;
}

/** Reads movies.csv into external id -> ItemMeta. */
export async function readMovielensCsvItems(
  file: string,
  opts: { skipBadRows?: boolean } = {},
): Promise<{ items: Map<string, ItemMeta>; skipped: number }> {
  const items = new Map<string, ItemMeta>();
  let cols: number[] | null = null;
  const skipped = await forEachRecord(file, ',', { skipBadRows: opts.skipBadRows }, (f, lineNo, invalid) => {
    if (cols === null) {
      cols = headerIndex(file, lineNo, f, ['movieId', 'title', 'genres']);
      return;
    }
    const id = parseId(field(f, cols[0], 'movieId'), 'movieId');
    const title = field(f, cols[1], 'title');
    const genres = field(f, cols[2], 'genres');
    checkText(invalid, 'title', title);
    checkText(invalid, 'genres', genres);
    if (items.has(id)) throw new RowError('movieId', `duplicate movie id '${id}'`);
    const g = genres
      .split('|')
      .map((s) => s.trim())
      .filter((s) => s !== '' && s !== '(no genres listed)');
    items.set(id, { title, attributes: g.length > 0 ? { genre: g.join(', ') } : {} });
  });
  if (cols === null) throw new DataError(file, undefined, undefined, 'no header line');
  return { items, skipped };
}

/** Loads an ml-latest style folder (or its ratings.csv). */
export async function loadMovielensCsv(path: string, opts: LoadOptions = {}): Promise<RawDataset> {
  const t = target(path, 'ratings.csv');
  const movies = join(t.dir, 'movies.csv');
  let table: Map<string, ItemMeta> | null = null;
  let itemSkipped = 0;
  if (existsSync(movies)) {
    const r = await readMovielensCsvItems(movies, opts);
    table = r.items;
    itemSkipped = r.skipped;
  }
  const b = new RowBuilder(true, true);
  let cols: number[] | null = null;
  const names = ['userId', 'movieId', 'rating', 'timestamp'];
  let width = 0;
  const skipped = await forEachRecord(t.file, ',', { skipBadRows: opts.skipBadRows }, (f, lineNo, invalid) => {
    if (cols === null) {
      cols = headerIndex(t.file, lineNo, f, names);
      width = f.length;
      return;
    }
    if (f.length !== width) throw new RowError(undefined, `record has ${f.length} fields, the header has ${width} (a decimal comma or an unquoted ','?)`);
    for (let k = 0; k < 4; k++) checkText(invalid, names[k], field(f, cols[k], names[k]));
    const user = parseId(field(f, cols[0], 'userId'), 'userId');
    const item = parseId(field(f, cols[1], 'movieId'), 'movieId');
    const rating = parseRating(field(f, cols[2], 'rating'), 'rating');
    const time = parseTime(field(f, cols[3], 'timestamp'), 'timestamp');
    if (table !== null && !table.has(item)) throw new RowError('movieId', `movie '${item}' is not in movies.csv`);
    b.push(user, item, time, rating);
  });
  if (cols === null) throw new DataError(t.file, undefined, undefined, 'no header line');
  requireRows(b, t.file, skipped);
  if (table !== null) attachMeta(b, table);
  return b.build(opts.name ?? defaultName(t.dir, true), t.file, skipped + itemSkipped);
}
