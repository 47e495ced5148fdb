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
import type { ItemMeta, RawDataset } from '../types.js';
import { type JsonObject, RowError, isObject, jsonText, parseJsonObject } from './common.js';
import { type AmazonLoadOptions, categoryPath, loadAmazonJsonl, setAttr } from './amazon_reviews.js';

export interface Amazon2023Options extends AmazonLoadOptions {
  /** Item id key of the reviews: 'parent_asin' (default, as the 2023 benchmarks) or 'asin'. */
  itemKey?: 'parent_asin' | 'asin';
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
  return loadAmazonJsonl(path, opts, {
    parse: parseJsonObject,
    user: 'user_id',
    item: opts.itemKey ?? 'parent_asin',
    rating: 'rating',
    time: 'timestamp',
    timeInMs: true,
    metaItem: 'parent_asin',
    looseMeta: false,
    toMeta: meta2023,
  });
}
