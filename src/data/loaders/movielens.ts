/**
 * The ratings file of the MovieLens loaders with one separator and no header
 * (ML-100K `u.data`, tab-separated; ML-1M/10M `ratings.dat`, `::`-separated):
 * user, item, rating, timestamp (unix s) per line, UTF-8. An item table read
 * before (u.item, movies.dat) is required: every rated item must be in it,
 * and its metadata is attached to the dataset.
 */
import type { ItemMeta, RawDataset } from '../types.js';
import { RowBuilder, attachMeta, requireRows } from './builder.js';
import { type LoadOptions, RowError, checkText, clip, defaultName, expectFields, forEachLine, parseId } from './common.js';
import { parseRating, parseTime } from './numbers.js';

/** An item table read before the ratings: external id -> ItemMeta, and the rows it skipped. */
export interface ItemTable {
  items: Map<string, ItemMeta>;
  skipped: number;
}

/**
 * A user table read next to the ratings (u.user, users.dat): external user
 * id -> features ({ age, gender, occupation[, zip code] }, all strings), and
 * the rows it skipped.
 */
export interface UserTable {
  users: Map<string, Record<string, string>>;
  skipped: number;
}

/** MovieLens gender codes: 'M' -> 'male', 'F' -> 'female', else a RowError naming the field. */
export function movielensGender(s: string, field: string): string {
  const t = s.trim();
  if (t === 'M') return 'male';
  if (t === 'F') return 'female';
  throw new RowError(field, `expected 'M' or 'F', got '${clip(s)}'`);
}

/**
 * The dataset with `userFeatures` from a user table: an entry for every user
 * of the ratings that the table lists (table users without ratings are
 * ignored; rated users the table lacks get no entry). The table's skipped
 * rows are added to skippedRows.
 */
export function withUserFeatures(raw: RawDataset, table: UserTable): RawDataset {
  const userFeatures = new Map<number, Record<string, string>>();
  for (let u = 0; u < raw.userIds.length; u++) {
    const f = table.users.get(raw.userIds[u]);
    if (f !== undefined) userFeatures.set(u, f);
  }
  return { ...raw, userFeatures, skippedRows: raw.skippedRows + table.skipped };
}

/** How one MovieLens release writes its ratings file (the names appear in the errors). */
export interface RatingsFormat {
  /** The field separator, and its name in error messages ('tab', "'::'"). */
  sep: string;
  sepName: string;
  /** Field names of user, item, rating and timestamp, in file order. */
  fields: readonly [string, string, string, string];
  /** What an item is called and the table's file name: "<item> '<id>' is not in <file>". */
  itemNoun: string;
  tableFile: string;
}

/** Loads the ratings file `t.file` with the item table (or null: ids only). */
export async function loadSeparatedRatings(
  t: { dir: string; file: string },
  opts: LoadOptions,
  format: RatingsFormat,
  itemTable: ItemTable | null,
): Promise<RawDataset> {
  const { sep, sepName, fields, itemNoun, tableFile } = format;
  const table = itemTable !== null ? itemTable.items : null;
  const b = new RowBuilder(true, true);
  const skipped = await forEachLine(t.file, { encoding: 'utf8', skipBadRows: opts.skipBadRows }, (line, _n, invalid) => {
    const f = line.split(sep);
    expectFields(f, fields, sepName);
    for (let k = 0; k < 4; k++) checkText(invalid, fields[k], f[k]);
    const user = parseId(f[0], fields[0]);
    const item = parseId(f[1], fields[1]);
    const rating = parseRating(f[2], fields[2]);
    const time = parseTime(f[3], fields[3]);
    if (table !== null && !table.has(item)) throw new RowError(fields[1], `${itemNoun} '${item}' is not in ${tableFile}`);
    b.push(user, item, time, rating);
  });
  requireRows(b, t.file, skipped);
  if (table !== null) attachMeta(b, table);
  return b.build(opts.name ?? defaultName(t.dir, true), t.file, skipped + (itemTable !== null ? itemTable.skipped : 0));
}
