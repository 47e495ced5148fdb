/**
 * MovieLens-1M / 10M loader (`::`-separated, latin-1 in the originals):
 * `ratings.dat` (UserID::MovieID::Rating::Timestamp, unix s) and
 * `movies.dat` (MovieID::Title::Genres, genres `|`-separated) -> ItemMeta
 * { title, attributes: genre (comma-joined) }. movies.dat, when present, is a
 * required item table. `readMovielensDatItems` reads movies.dat alone (item
 * text for folders without ratings, like the shared ml-1m copy).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DataError } from '../errors.js';
import type { ItemMeta, RawDataset } from '../types.js';
import { RowBuilder, requireRows } from './builder.js';
import {
  type LoadOptions,
  type TextEncoding,
  RowError,
  checkText,
  defaultName,
  expectFields,
  fileIn,
  forEachLine,
  parseId,
  parseNumber,
  sniffEncoding,
  target,
} from './common.js';
import { attachMeta } from './ml100k.js';

export interface MlDatOptions extends LoadOptions {
  /** Encoding of movies.dat: 'auto' (default) picks UTF-8 when the bytes are valid UTF-8, else latin-1. */
  itemEncoding?: TextEncoding | 'auto';
}

const MOVIE_FIELDS = ['MovieID', 'Title', 'Genres'] as const;
const RATING_FIELDS = ['UserID', 'MovieID', 'Rating', 'Timestamp'] as const;

/** Reads a `MovieID::Title::Genres` file into external id -> ItemMeta. */
export async function readMovielensDatItems(
  file: string,
  opts: { skipBadRows?: boolean; encoding?: TextEncoding | 'auto' } = {},
): Promise<{ items: Map<string, ItemMeta>; skipped: number }> {
  const encoding = opts.encoding === undefined || opts.encoding === 'auto' ? await sniffEncoding(file) : opts.encoding;
  const items = new Map<string, ItemMeta>();
  const skipped = await forEachLine(file, { encoding, skipBadRows: opts.skipBadRows }, (line, _n, invalid) => {
    const f = line.split('::');
    expectFields(f, MOVIE_FIELDS, "'::'");
    const id = parseId(f[0], 'MovieID');
    checkText(invalid, 'Title', f[1]);
    checkText(invalid, 'Genres', f[2]);
    if (items.has(id)) throw new RowError('MovieID', `duplicate movie id '${id}'`);
    const genres = f[2]
      .split('|')
      .map((g) => g.trim())
      .filter((g) => g !== '' && g !== '(no genres listed)');
    items.set(id, { title: f[1], attributes: genres.length > 0 ? { genre: genres.join(', ') } : {} });
  });
  return { items, skipped };
}

/** Loads an ML-1M / ML-10M folder (or its ratings.dat). */
export async function loadMovielensDat(path: string, opts: MlDatOptions = {}): Promise<RawDataset> {
  const t = target(path, 'ratings.dat');
  if (!existsSync(t.file) && fileIn(t.dir, 'movies.dat') !== null) {
    throw new DataError(t.file, undefined, undefined, 'not found: this MovieLens folder has movies.dat but no ratings.dat (metadata only; use readMovielensDatItems for item text)');
  }
  const movies = fileIn(t.dir, 'movies.dat') ?? join(t.dir, 'movies.dat');
  let table: Map<string, ItemMeta> | null = null;
  let itemSkipped = 0;
  if (existsSync(movies)) {
    const r = await readMovielensDatItems(movies, { skipBadRows: opts.skipBadRows, encoding: opts.itemEncoding });
    table = r.items;
    itemSkipped = r.skipped;
  }
  const b = new RowBuilder(true, true);
  const skipped = await forEachLine(t.file, { encoding: 'utf8', skipBadRows: opts.skipBadRows }, (line) => {
    const f = line.split('::');
    expectFields(f, RATING_FIELDS, "'::'");
    const user = parseId(f[0], 'UserID');
    const item = parseId(f[1], 'MovieID');
    const rating = parseNumber(f[2], 'Rating');
    const time = parseNumber(f[3], 'Timestamp');
    if (table !== null && !table.has(item)) throw new RowError('MovieID', `movie '${item}' is not in movies.dat`);
    b.push(user, item, time, rating);
  });
  requireRows(b, t.file, skipped);
  if (table !== null) attachMeta(b, table);
  return b.build(opts.name ?? defaultName(t.dir, true), t.file, skipped + itemSkipped);
}
