/**
 * MovieLens-100K loader: `u.data` (tab: user item rating timestamp, unix s),
 * `u.item` (`|`-separated, latin-1: id|title|release date|video date|url|19
 * genre flags) -> ItemMeta { title, attributes: genre (comma-joined names,
 * from u.genre when present), release date }. When u.item exists it is a
 * required item table: a rating of an item it lacks is an error.
 *
 * `u.user` (`|`-separated: user id|age|gender|occupation|zip code), when it
 * is next to the ratings file, gives RawDataset.userFeatures for the users
 * of the ratings: { age: '24', gender: 'male' | 'female', occupation:
 * 'technician' }. The zip code is left out unless `userZipCode` is set (it
 * identifies people and says little as text). Rated users that u.user lacks
 * get no features; without u.user there are no userFeatures at all.
 */
import type { ItemMeta, RawDataset } from '../types.js';
import { type LoadOptions, type TextEncoding, RowError, checkText, clip, expectFields, fileIn, forEachLine, parseId, parseNumber, resolveEncoding, sniffEncoding, target } from './common.js';
import { own } from './builder.js';
import { type ItemTable, type RatingsFormat, type UserTable, loadSeparatedRatings, movielensGender, withUserFeatures } from './movielens.js';
import { DataError } from '../errors.js';

/** The 19 genres of ML-100K in flag order (u.genre lists the same). */
export const ML100K_GENRES: readonly string[] = [
  'unknown', 'Action', 'Adventure', 'Animation', "Children's", 'Comedy', 'Crime', 'Documentary', 'Drama', 'Fantasy',
  'Film-Noir', 'Horror', 'Musical', 'Mystery', 'Romance', 'Sci-Fi', 'Thriller', 'War', 'Western',
];

export interface Ml100kOptions extends LoadOptions {
  /** Interactions file in the folder (default 'u.data'; e.g. 'u1.base'). */
  ratingsFile?: string;
  /** Encoding of u.item: 'auto' (default) picks UTF-8 when the bytes are valid UTF-8, else latin-1. */
  itemEncoding?: TextEncoding | 'auto';
  /** Keep the zip code of u.user as feature 'zip code' (default false: age, gender, occupation only). */
  userZipCode?: boolean;
}

/** Reads u.genre (`name|index`) into names by index. */
export async function readMl100kGenres(file: string): Promise<string[]> {
  const names: string[] = [];
  await forEachLine(file, { encoding: await sniffEncoding(file) }, (line, lineNo) => {
    const f = line.split('|');
    if (f.length !== 2) throw new DataError(file, lineNo, undefined, `expected 'name|index', got '${line}'`);
    const idx = parseNumberOr(file, lineNo, f[1], 'index');
    if (!Number.isInteger(idx) || idx < 0 || names[idx] !== undefined) {
      throw new DataError(file, lineNo, 'index', `bad or duplicate genre index '${f[1]}'`);
    }
    names[idx] = f[0];
  });
  for (let i = 0; i < names.length; i++) if (names[i] === undefined) throw new DataError(file, undefined, 'index', `genre index ${i} missing`);
  return names;
}

function parseNumberOr(file: string, lineNo: number, s: string, field: string): number {
  try {
    return parseNumber(s, field);
  } catch (e) {
    if (e instanceof RowError) throw new DataError(file, lineNo, field, e.message);
    throw e;
  }
}

const ITEM_FIELDS = ['movie id', 'title', 'release date', 'video release date', 'IMDb URL'] as const;

/** Reads u.item into external id -> ItemMeta. */
export async function readMl100kItems(
  file: string,
  genres: readonly string[] = ML100K_GENRES,
  opts: { skipBadRows?: boolean; encoding?: TextEncoding | 'auto' } = {},
): Promise<ItemTable> {
  const encoding = await resolveEncoding(file, opts.encoding);
  const items = new Map<string, ItemMeta>();
  const expected = ITEM_FIELDS.length + genres.length;
  const skipped = await forEachLine(file, { encoding, skipBadRows: opts.skipBadRows }, (line, _n, invalid) => {
    const f = line.split('|');
    if (f.length < expected) {
      const missing = f.length < ITEM_FIELDS.length ? ITEM_FIELDS[f.length] : `genre '${genres[f.length - ITEM_FIELDS.length]}'`;
      throw new RowError(missing, `missing (line has ${f.length} of ${expected} '|'-separated fields)`);
    }
    if (f.length > expected) throw new RowError(undefined, `line has ${f.length} '|'-separated fields, expected ${expected}`);
    const id = parseId(f[0], 'movie id');
    checkText(invalid, 'title', f[1]);
    checkText(invalid, 'release date', f[2]);
    const g: string[] = [];
    for (let k = 0; k < genres.length; k++) {
      const flag = f[ITEM_FIELDS.length + k];
      if (flag === '1') g.push(genres[k]);
      else if (flag !== '0') throw new RowError(`genre '${genres[k]}'`, `expected a 0/1 flag, got '${flag}'`);
    }
    if (items.has(id)) throw new RowError('movie id', `duplicate movie id '${id}'`);
    const attributes: Record<string, string> = {};
    if (g.length > 0) attributes.genre = g.join(', ');
    if (f[2].trim() !== '') attributes['release date'] = f[2].trim();
    items.set(id, { title: f[1], attributes });
  });
  return { items, skipped };
}

const USER_FIELDS = ['user id', 'age', 'gender', 'occupation', 'zip code'] as const;

/**
 * Reads u.user (`user id|age|gender|occupation|zip code`) into external user
 * id -> { age, gender ('male' / 'female'), occupation[, 'zip code'] }.
 * Encoding: UTF-8 when the bytes are valid UTF-8, else latin-1.
 */
export async function readMl100kUsers(file: string, opts: { skipBadRows?: boolean; zipCode?: boolean } = {}): Promise<UserTable> {
  const encoding = await sniffEncoding(file);
  const users = new Map<string, Record<string, string>>();
  const skipped = await forEachLine(file, { encoding, skipBadRows: opts.skipBadRows }, (line, _n, invalid) => {
    const f = line.split('|');
    expectFields(f, USER_FIELDS, "'|'");
    const id = parseId(f[0], 'user id');
    const age = parseNumber(f[1], 'age');
    if (!Number.isInteger(age) || age < 0) throw new RowError('age', `expected a whole number of years, got '${clip(f[1])}'`);
    const gender = movielensGender(f[2], 'gender');
    checkText(invalid, 'occupation', f[3]);
    const occupation = f[3].trim();
    if (occupation === '') throw new RowError('occupation', 'empty');
    if (users.has(id)) throw new RowError('user id', `duplicate user id '${id}'`);
    const features: Record<string, string> = { age: String(age), gender, occupation: own(occupation) };
    if (opts.zipCode) {
      checkText(invalid, 'zip code', f[4]);
      const zip = f[4].trim();
      if (zip !== '') features['zip code'] = own(zip);
    }
    users.set(own(id), features);
  });
  return { users, skipped };
}

const DATA_FORMAT: RatingsFormat = { sep: '\t', sepName: 'tab', fields: ['user', 'item', 'rating', 'timestamp'], itemNoun: 'item', tableFile: 'u.item' };

/** Loads an ML-100K folder (or its u.data / u1.base / ... file). */
export async function loadMl100k(path: string, opts: Ml100kOptions = {}): Promise<RawDataset> {
  const t = target(path, opts.ratingsFile ?? 'u.data');
  const genreFile = fileIn(t.dir, 'u.genre');
  const genres = genreFile !== null ? await readMl100kGenres(genreFile) : ML100K_GENRES;
  const itemFile = fileIn(t.dir, 'u.item');
  const table = itemFile !== null ? await readMl100kItems(itemFile, genres, { skipBadRows: opts.skipBadRows, encoding: opts.itemEncoding }) : null;
  const userFile = fileIn(t.dir, 'u.user');
  const users = userFile !== null ? await readMl100kUsers(userFile, { skipBadRows: opts.skipBadRows, zipCode: opts.userZipCode }) : null;
  const raw = await loadSeparatedRatings(t, opts, DATA_FORMAT, table);
  return users !== null ? withUserFeatures(raw, users) : raw;
}
