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
import { type LoadOptions, type TextEncoding, RowError, checkText, expectFields, fileIn, forEachLine, parseId, resolveEncoding, target } from './common.js';
import { type ItemTable, type RatingsFormat, loadSeparatedRatings } from './movielens.js';

export interface MlDatOptions extends LoadOptions {
  /** Encoding of movies.dat: 'auto' (default) picks UTF-8 when the bytes are valid UTF-8, else latin-1. */
  itemEncoding?: TextEncoding | 'auto';
}

const MOVIE_FIELDS = ['MovieID', 'Title', 'Genres'] as const;
const RATINGS_FORMAT: RatingsFormat = { sep: '::', sepName: "'::'", fields: ['UserID', 'MovieID', 'Rating', 'Timestamp'], itemNoun: 'movie', tableFile: 'movies.dat' };

/** Reads a `MovieID::Title::Genres` file into external id -> ItemMeta. */
export async function readMovielensDatItems(
  file: string,
  opts: { skipBadRows?: boolean; encoding?: TextEncoding | 'auto' } = {},
): Promise<ItemTable> {
  const encoding = await resolveEncoding(file, opts.encoding);
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
  const table = existsSync(movies) ? await readMovielensDatItems(movies, { skipBadRows: opts.skipBadRows, encoding: opts.itemEncoding }) : null;
  return loadSeparatedRatings(t, opts, RATINGS_FORMAT, table);
}
