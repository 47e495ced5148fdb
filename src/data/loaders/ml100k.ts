/**
 * MovieLens-100K loader: `u.data` (tab: user item rating timestamp, unix s),
 * `u.item` (`|`-separated, latin-1: id|title|release date|video date|url|19
 * genre flags) -> ItemMeta { title, attributes: genre (comma-joined names,
 * from u.genre when present), release date }. `u.user` is not read (types.ts
 * has no user metadata). When u.item exists it is a required item table: a
 * rating of an item it lacks is an error.
 */
import type { ItemMeta, RawDataset } from '../types.js';
import { type LoadOptions, type TextEncoding, RowError, checkText, fileIn, forEachLine, parseId, parseNumber, resolveEncoding, sniffEncoding, target } from './common.js';
import { type ItemTable, type RatingsFormat, loadSeparatedRatings } from './movielens.js';
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

const DATA_FORMAT: RatingsFormat = { sep: '\t', sepName: 'tab', fields: ['user', 'item', 'rating', 'timestamp'], itemNoun: 'item', tableFile: 'u.item' };

/** Loads an ML-100K folder (or its u.data / u1.base / ... file). */
export async function loadMl100k(path: string, opts: Ml100kOptions = {}): Promise<RawDataset> {
  const t = target(path, opts.ratingsFile ?? 'u.data');
  const genreFile = fileIn(t.dir, 'u.genre');
  const genres = genreFile !== null ? await readMl100kGenres(genreFile) : ML100K_GENRES;
  const itemFile = fileIn(t.dir, 'u.item');
  const table = itemFile !== null ? await readMl100kItems(itemFile, genres, { skipBadRows: opts.skipBadRows, encoding: opts.itemEncoding }) : null;
  return loadSeparatedRatings(t, opts, DATA_FORMAT, table);
}
