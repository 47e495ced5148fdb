/**
 * Amazon Reviews 2023 (McAuley lab, JSONL, optionally gzipped; one category
 * can be several GB, streamed): reviews `<Category>.jsonl` with user_id,
 * parent_asin (the item id by default; `itemKey: 'asin'` for variants),
 * rating, timestamp (unix **milliseconds**, stored as seconds). Metadata
 * `meta_<Category>.jsonl`: title, main_category, store, categories, price,
 * details -> ItemMeta { title, attributes: store, category ('A > B'),
 * main category, price, and the details object as the hidden JSON
 * attribute `_details` }. Reviewed items only; first entry wins; optional
 * per item unless `requireMeta`.
 */
import { existsSync, statSync } from 'node:fs';
import type { ItemMeta, RawDataset } from '../types.js';
import { RowBuilder, requireRows } from './builder.js';
import {
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
  parseJsonObject,
} from './common.js';
import { categoryPath, checkRequiredMeta, findMetaFile, findReviewsFile, readAmazonMeta, setAttr } from './amazon_reviews.js';

export interface Amazon2023Options extends LoadOptions {
  /** Metadata file; default: the sibling `meta_<Category>.jsonl(.gz)` when it exists; null: none. */
  meta?: string | null;
  /** Item id key of the reviews: 'parent_asin' (default, as the 2023 benchmarks) or 'asin'. */
  itemKey?: 'parent_asin' | 'asin';
  /** Every reviewed item must have a metadata entry (default false). */
  requireMeta?: boolean;
}

function meta2023(obj: JsonObject): ItemMeta {
  const attributes: Record<string, string> = {};
  setAttr(attributes, 'store', jsonText(obj, 'store'));
  setAttr(attributes, 'category', categoryPath(obj.categories, 'categories'));
  setAttr(attributes, 'main category', jsonText(obj, 'main_category'));
  const price = obj.price;
  if (typeof price === 'number' || (typeof price === 'string' && price !== 'None')) setAttr(attributes, 'price', String(price));
  const details = obj.details;
  if (details !== undefined && details !== null) {
    if (!isObject(details)) throw new RowError('details', 'expected an object');
    if (Object.keys(details).length > 0) attributes._details = JSON.stringify(details);
  }
  return { title: jsonText(obj, 'title'), attributes };
}

/** Loads Amazon 2023 reviews (a folder with one reviews file, or the file). */
export async function loadAmazon2023(path: string, opts: Amazon2023Options = {}): Promise<RawDataset> {
  const isDir = existsSync(path) && statSync(path).isDirectory();
  const file = isDir ? await findReviewsFile(path) : path;
  const itemKey = opts.itemKey ?? 'parent_asin';
  const b = new RowBuilder(true, true);
  const firstLines: number[] = [];
  const skipped = await forEachLine(file, { encoding: 'utf8', skipBadRows: opts.skipBadRows }, (line, lineNo, invalid) => {
    const obj = parseJsonObject(line);
    const user = jsonId(obj, 'user_id');
    const item = jsonId(obj, itemKey);
    const rating = jsonNumber(obj, 'rating');
    const ms = jsonNumber(obj, 'timestamp');
    if (invalid) checkJsonText(true, obj);
    b.push(user, item, ms / 1000, rating);
    if (b.items.size > firstLines.length) firstLines.push(lineNo);
  });
  requireRows(b, file, skipped);
  const metaFile = opts.meta === null ? null : (opts.meta ?? (await findMetaFile(file)));
  let metaSkipped = 0;
  if (metaFile !== null) metaSkipped = await readAmazonMeta(b, metaFile, 'parent_asin', { skipBadRows: opts.skipBadRows, loose: false }, meta2023);
  if (opts.requireMeta) checkRequiredMeta(b, file, metaFile, firstLines, itemKey);
  return b.build(opts.name ?? defaultName(isDir ? path : file, isDir), file, skipped + metaSkipped);
}
