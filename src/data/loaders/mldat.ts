/**
 * MovieLens-1M / 10M loader (`::`-separated, latin-1 in the originals):
 * `ratings.dat` (UserID::MovieID::Rating::Timestamp, unix s) and
 * `movies.dat` (MovieID::Title::Genres, genres `|`-separated) -> ItemMeta
 * { title, attributes: genre (comma-joined) }. movies.dat, when present, is a
 * required item table. `readMovielensDatItems` reads movies.dat alone (item
 * text for folders without ratings, like the shared ml-1m copy).
 *
 * `users.dat` (ML-1M: UserID::Gender::Age::Occupation::Zip-code), when it is
 * next to ratings.dat, gives RawDataset.userFeatures for the users of the
 * ratings, the README's codes spelled out: { age: '25-34', gender: 'male' |
 * 'female', occupation: 'college/grad student' } (zip code only with
 * `userZipCode`). Rated users it lacks get no features. `readMovielensDatUsers`
 * reads users.dat alone.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DataError } from '../errors.js';
import type { ItemMeta, RawDataset } from '../types.js';
import { own } from './builder.js';
import { type LoadOptions, type TextEncoding, RowError, checkText, clip, expectFields, fileIn, forEachLine, parseId, resolveEncoding, target } from './common.js';
import { type ItemTable, type RatingsFormat, type UserTable, loadSeparatedRatings, movielensGender, withUserFeatures } from './movielens.js';

export interface MlDatOptions extends LoadOptions {
  /** Encoding of movies.dat: 'auto' (default) picks UTF-8 when the bytes are valid UTF-8, else latin-1. */
  itemEncoding?: TextEncoding | 'auto';
  /** Keep the zip code of users.dat as feature 'zip code' (default false: age, gender, occupation only). */
  userZipCode?: boolean;
}

/** ML-1M README: age code -> range. */
export const ML1M_AGES: Readonly<Record<string, string>> = {
  '1': 'under 18',
  '18': '18-24',
  '25': '25-34',
  '35': '35-44',
  '45': '45-49',
  '50': '50-55',
  '56': '56+',
};

/** ML-1M README: occupation code (index) -> name (0 is '"other" or not specified'). */
export const ML1M_OCCUPATIONS: readonly string[] = [
  'other', 'academic/educator', 'artist', 'clerical/admin', 'college/grad student', 'customer service', 'doctor/health care',
  'executive/managerial', 'farmer', 'homemaker', 'K-12 student', 'lawyer', 'programmer', 'retired', 'sales/marketing',
  'scientist', 'self-employed', 'technician/engineer', 'tradesman/craftsman', 'unemployed', 'writer',
];

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

const USER_FIELDS = ['UserID', 'Gender', 'Age', 'Occupation', 'Zip-code'] as const;

/**
 * Reads a `UserID::Gender::Age::Occupation::Zip-code` file (ML-1M users.dat)
 * into external user id -> { age (README range), gender ('male' / 'female'),
 * occupation (README name)[, 'zip code'] }. Unknown codes are errors.
 */
export async function readMovielensDatUsers(file: string, opts: { skipBadRows?: boolean; zipCode?: boolean } = {}): Promise<UserTable> {
  const encoding = await resolveEncoding(file, 'auto');
  const users = new Map<string, Record<string, string>>();
  const skipped = await forEachLine(file, { encoding, skipBadRows: opts.skipBadRows }, (line, _n, invalid) => {
    const f = line.split('::');
    expectFields(f, USER_FIELDS, "'::'");
    const id = parseId(f[0], 'UserID');
    const gender = movielensGender(f[1], 'Gender');
    const ageCode = f[2].trim();
    const age = Object.hasOwn(ML1M_AGES, ageCode) ? ML1M_AGES[ageCode] : undefined;
    if (age === undefined) throw new RowError('Age', `expected an age code (${Object.keys(ML1M_AGES).join(', ')}), got '${clip(f[2])}'`);
    const occCode = f[3].trim();
    const occupation = /^\d+$/.test(occCode) ? ML1M_OCCUPATIONS[Number(occCode)] : undefined;
    if (occupation === undefined) throw new RowError('Occupation', `expected an occupation code 0-${ML1M_OCCUPATIONS.length - 1}, got '${clip(f[3])}'`);
    if (users.has(id)) throw new RowError('UserID', `duplicate user id '${id}'`);
    const features: Record<string, string> = { age, gender, occupation };
    if (opts.zipCode) {
      checkText(invalid, 'Zip-code', f[4]);
      const zip = f[4].trim();
      if (zip !== '') features['zip code'] = own(zip);
    }
    users.set(own(id), features);
  });
  return { users, skipped };
}

/** Loads an ML-1M / ML-10M folder (or its ratings.dat). */
export async function loadMovielensDat(path: string, opts: MlDatOptions = {}): Promise<RawDataset> {
  const t = target(path, 'ratings.dat');
  if (!existsSync(t.file) && fileIn(t.dir, 'movies.dat') !== null) {
    throw new DataError(t.file, undefined, undefined, 'not found: this MovieLens folder has movies.dat but no ratings.dat (metadata only; use readMovielensDatItems for item text)');
  }
  const movies = fileIn(t.dir, 'movies.dat') ?? join(t.dir, 'movies.dat');
  const table = existsSync(movies) ? await readMovielensDatItems(movies, { skipBadRows: opts.skipBadRows, encoding: opts.itemEncoding }) : null;
  const userFile = fileIn(t.dir, 'users.dat');
  const users = userFile !== null ? await readMovielensDatUsers(userFile, { skipBadRows: opts.skipBadRows, zipCode: opts.userZipCode }) : null;
  const raw = await loadSeparatedRatings(t, opts, RATINGS_FORMAT, table);
  return users !== null ? withUserFeatures(raw, users) : raw;
}
