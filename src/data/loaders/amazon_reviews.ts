/**
 * Raw Amazon reviews, 2014 and 2018 releases (McAuley lab): JSON lines,
 * optionally gzipped (`reviews_Beauty_5.json.gz`, `Beauty_5.json.gz`, ...):
 * reviewerID, asin, overall (rating), unixReviewTime (unix s). Metadata
 * (`meta_<Category>.json(.gz)`, found next to the reviews file or given as
 * `meta`): title, brand, categories (2014: list of category paths) or
 * category (2018: one path), price, main_cat -> ItemMeta { title,
 * attributes: brand, category ('A > B > C', several paths joined ' | '),
 * price, main category }.
 *
 * Loose form: the 2014 metadata files are Python dict literals (single
 * quotes, `eval`-able), not JSON. With `loose` (default true) a line that is
 * not valid JSON is parsed as a Python literal (see pyliteral.ts; nothing is
 * evaluated). Set `loose: false` to accept strict JSON only.
 *
 * Review text: the 2014/2018 lines carry `reviewText` and `summary`; they are
 * kept row-aligned in RawDataset.reviews (null for a row where both are
 * missing or empty; `feature` is never set, the raw data has none). Pass
 * `reviewText: false` to drop them and save memory.
 *
 * Metadata is streamed after the reviews and only entries of reviewed items
 * are kept (a meta line of an unknown item is skipped before parsing), so a
 * multi-GB meta file costs time, not memory. Duplicate meta entries: the
 * first wins. Metadata is optional per item unless `requireMeta` is set.
 */
import { existsSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { DataError } from '../errors.js';
import type { ItemMeta, RawDataset, ReviewText } from '../types.js';
import { RowBuilder, own, requireRows } from './builder.js';
import {
  type Json,
  type JsonObject,
  type LoadOptions,
  RowError,
  checkJsonText,
  defaultName,
  forEachLine,
  isObject,
  jsonId,
  jsonNumber,
  jsonText,
  listDir,
} from './common.js';
import { checkRating, checkTime } from './numbers.js';
import { PyLiteralError, parsePythonLiteral } from './pyliteral.js';

/** The options of both Amazon review loaders. */
export interface AmazonLoadOptions extends LoadOptions {
  /** Metadata file; default: the sibling `meta_<Category>.json(l)(.gz)` when it exists; null: none. */
  meta?: string | null;
  /** Every reviewed item must have a metadata entry (default false). */
  requireMeta?: boolean;
}

export interface AmazonReviewsOptions extends AmazonLoadOptions {
  /** Accept Python-dict lines (2014 metadata) besides strict JSON (default true). */
  loose?: boolean;
  /** Keep each row's `reviewText` and `summary` in RawDataset.reviews (default true; false saves memory). */
  reviewText?: boolean;
}

const JSONL_RE = /\.(json|jsonl|ndjson)(\.gz)?$/i;

/** The reviews file of a folder (the single JSON-lines file not named meta_*), or a DataError. */
export async function findReviewsFile(dir: string): Promise<string> {
  const files = (await listDir(dir)).filter((n) => JSONL_RE.test(n) && !n.startsWith('meta_'));
  if (files.length === 1) return join(dir, files[0]);
  throw new DataError(
    dir,
    undefined,
    undefined,
    files.length === 0 ? 'no reviews file (*.json, *.jsonl, optionally .gz, not meta_*)' : `several reviews files, pass one: ${files.join(', ')}`,
  );
}

/** `meta_<Category>.*` next to a reviews file (reviews_X_5.json.gz, X_5.json.gz, X.jsonl -> meta_X.*), or null. */
export async function findMetaFile(reviewsFile: string): Promise<string | null> {
  const dir = dirname(reviewsFile);
  const cat = basename(reviewsFile)
    .replace(JSONL_RE, '')
    .replace(/^reviews_/, '')
    .replace(/_5$/, '');
  const names = await listDir(dir);
  const hit = names.find((n) => n.startsWith(`meta_${cat}.`) && JSONL_RE.test(n));
  return hit !== undefined ? join(dir, hit) : null;
}

/** Parses one line as a JSON object, or (loose) as a Python dict literal. */
export function parseRecord(line: string, loose: boolean): JsonObject {
  let v: Json;
  try {
    v = JSON.parse(line) as Json;
  } catch (e) {
    const jsonMsg = e instanceof Error ? e.message : String(e);
    if (!loose) throw new RowError(undefined, `invalid JSON: ${jsonMsg}`);
    try {
      v = parsePythonLiteral(line);
    } catch (e2) {
      const pyMsg = e2 instanceof PyLiteralError ? e2.message : String(e2);
      throw new RowError(undefined, `neither JSON (${jsonMsg}) nor a Python dict literal (${pyMsg})`);
    }
  }
  if (!isObject(v)) throw new RowError(undefined, 'expected an object on each line');
  return v;
}

/** 'A > B > C' from a list of strings; several paths (list of lists) joined with ' | '. */
export function categoryPath(v: Json | undefined, field: string): string {
  if (v === undefined || v === null) return '';
  if (typeof v === 'string') return v.trim();
  if (!Array.isArray(v)) throw new RowError(field, 'expected a list of categories');
  if (v.every((x) => typeof x === 'string')) return (v as string[]).map((s) => s.trim()).filter((s) => s !== '').join(' > ');
  return v
    .map((p) => categoryPath(p, field))
    .filter((s) => s !== '')
    .join(' | ');
}

/** Sets attributes[key] = value when value is not empty. */
export function setAttr(attributes: Record<string, string>, key: string, value: string): void {
  const v = value.trim();
  if (v !== '' && attributes[key] === undefined) attributes[key] = v;
}

/** The id of a key's string value, found without parsing the line (fast skip of unknown items). */
const peekPatterns = new Map<string, RegExp>();
export function peekKey(line: string, key: string): string | null {
  let re = peekPatterns.get(key);
  if (re === undefined) {
    re = new RegExp(`["']${key}["']\\s*:\\s*(?:"([^"\\\\]*)"|'([^'\\\\]*)')`);
    peekPatterns.set(key, re);
  }
  const m = re.exec(line);
  if (m === null) return null;
  return m[1] ?? m[2] ?? null;
}

/** Streams a metadata file into `b.itemMeta` (reviewed items only; first entry wins). */
export async function readAmazonMeta(
  b: RowBuilder,
  file: string,
  idKey: string,
  opts: { skipBadRows?: boolean; loose: boolean },
  toMeta: (obj: JsonObject) => ItemMeta,
): Promise<number> {
  return forEachLine(file, { encoding: 'utf8', skipBadRows: opts.skipBadRows }, (line, _n, invalid) => {
    const peek = peekKey(line, idKey);
    if (peek !== null) {
      const i = b.items.get(peek.trim());
      if (i === undefined || b.itemMeta.has(i)) return;
    }
    const obj = parseRecord(line, opts.loose);
    checkJsonText(invalid, obj);
    const id = jsonId(obj, idKey);
    const i = b.items.get(id);
    if (i === undefined || b.itemMeta.has(i)) return;
    b.itemMeta.set(i, toMeta(obj));
  });
}

function meta2014(obj: JsonObject): ItemMeta {
  const attributes: Record<string, string> = {};
  setAttr(attributes, 'brand', jsonText(obj, 'brand'));
  setAttr(attributes, 'category', categoryPath(obj.categories ?? obj.category, obj.categories !== undefined ? 'categories' : 'category'));
  setAttr(attributes, 'main category', jsonText(obj, 'main_cat'));
  setAttr(attributes, 'price', jsonText(obj, 'price'));
  return { title: jsonText(obj, 'title'), attributes };
}

/** Checks requireMeta: every item must have an entry (names the first review line of the first one missing). */
export function checkRequiredMeta(b: RowBuilder, file: string, metaFile: string | null, firstLines: number[], field: string): void {
  for (let i = 0; i < b.items.size; i++) {
    if (!b.itemMeta.has(i)) {
      throw new DataError(file, firstLines[i], field, `item '${b.items.ids[i]}' has no metadata${metaFile !== null ? ` in ${basename(metaFile)}` : ' (no metadata file found)'}`);
    }
  }
}



/** How one Amazon release writes its reviews and metadata (see loadAmazonReviews, loadAmazon2023). */
export interface AmazonFormat {
  /** One reviews line as an object. */
  parse(line: string): JsonObject;
  /** Keys of the user id, the item id, the rating and the time. */
  user: string;
  item: string;
  rating: string;
  time: string;
  /** The time key holds unix milliseconds (stored as seconds); else unix seconds. */
  timeInMs: boolean;
  /** Item id key of the metadata lines. */
  metaItem: string;
  /** Metadata lines may be Python dict literals. */
  looseMeta: boolean;
  toMeta(obj: JsonObject): ItemMeta;
  /** The review text of one reviews line (null: none); absent: the format keeps no text (no RawDataset.reviews). */
  review?: (obj: JsonObject) => ReviewText | null;
}

/** A string field's trimmed text ('' when missing or not a string: never a reason to reject the row). */
function textField(obj: JsonObject, key: string): string {
  const v = obj[key];
  return typeof v === 'string' ? v.trim() : '';
}

/** `reviewText` + `summary` of a 2014/2018 line; null when both are missing or empty. */
export function review2014(obj: JsonObject): ReviewText | null {
  const text = textField(obj, 'reviewText');
  const summary = textField(obj, 'summary');
  if (text === '' && summary === '') return null;
  // own(): a private copy, so the kept text does not pin the whole read chunk.
  return { text: own(text), summary: own(summary) };
}

/**
 * Loads Amazon reviews (a folder with one reviews file, or the file), then
 * the metadata of the reviewed items (opts.meta, else the sibling meta file).
 */
export async function loadAmazonJsonl(path: string, opts: AmazonLoadOptions, format: AmazonFormat): Promise<RawDataset> {
  const isDir = existsSync(path) && statSync(path).isDirectory();
  const file = isDir ? await findReviewsFile(path) : path;
  const b = new RowBuilder(true, true);
  const firstLines: number[] = [];
  const toReview = format.review;
  const reviews: (ReviewText | null)[] | undefined = toReview !== undefined ? [] : undefined;
  const skipped = await forEachLine(file, { encoding: 'utf8', skipBadRows: opts.skipBadRows }, (line, lineNo, invalid) => {
    const obj = format.parse(line);
    const user = jsonId(obj, format.user);
    const item = jsonId(obj, format.item);
    const rating = checkRating(jsonNumber(obj, format.rating), format.rating);
    const raw = jsonNumber(obj, format.time);
    const time = checkTime(format.timeInMs ? raw / 1000 : raw, format.time);
    if (invalid) checkJsonText(true, obj);
    const review = toReview !== undefined ? toReview(obj) : null;
    b.push(user, item, time, rating);
    reviews?.push(review);
    if (b.items.size > firstLines.length) firstLines.push(lineNo);
  });
  requireRows(b, file, skipped);
  const metaFile = opts.meta === null ? null : (opts.meta ?? (await findMetaFile(file)));
  let metaSkipped = 0;
  if (metaFile !== null) metaSkipped = await readAmazonMeta(b, metaFile, format.metaItem, { skipBadRows: opts.skipBadRows, loose: format.looseMeta }, format.toMeta);
  if (opts.requireMeta) checkRequiredMeta(b, file, metaFile, firstLines, format.item);
  const raw = b.build(opts.name ?? defaultName(isDir ? path : file, isDir), file, skipped + metaSkipped);
  if (reviews !== undefined) raw.reviews = reviews;
  return raw;
}

/** Loads raw Amazon 2014/2018 reviews (a folder with one reviews file, or the file). */
export async function loadAmazonReviews(path: string, opts: AmazonReviewsOptions = {}): Promise<RawDataset> {
  const loose = opts.loose ?? true;
  return loadAmazonJsonl(path, opts, {
    parse: (line) => parseRecord(line, loose),
    user: 'reviewerID',
    item: 'asin',
    rating: 'overall',
    time: 'unixReviewTime',
    timeInMs: false,
    metaItem: 'asin',
    looseMeta: loose,
    toMeta: meta2014,
    ...(opts.reviewText !== false ? { review: review2014 } : {}),
  });
}
