/**
 * S3-Rec / P5 sequence-format loader (amazon-beauty, amazon-sports,
 * amazon-toys, yelp-s3rec, lastfm-s3rec): one line per user,
 * `user item item ...` (whitespace-separated, oldest first, implicit, no
 * timestamps: time = null, rating = null).
 *
 * Side files in the same folder, each optional:
 * - `datamaps.json` (P5): `id2item` / `id2user` (or `item2id` / `user2id`)
 *   to the original ids (ASIN, reviewerID, Yelp business id). When present
 *   it is a required table: a sequence id it lacks is an error. The original
 *   item id is kept as the hidden attribute `_originalId`.
 * - `<Name>_item2attributes.json` (S3-Rec): `{item: [attr id, ...]}` -> hidden
 *   attribute `_attributeIds` (space-joined, as in the file). Attribute
 *   *names* from datamaps.id2attribute are attached as `attributes` only
 *   when they demonstrably belong to the same numbering (the attribute ids
 *   used equal the id2attribute keys; true for yelp-s3rec, false for
 *   Beauty/Sports whose datamaps come from another preprocessing run), or
 *   when forced with `attributeNames: true`.
 * - Titles: `products_lookup.csv` + `item_id_to_int.json` (dh-r, Beauty):
 *   title(id) = products_lookup[item_id_to_int[id2item[id]]].name. Empty
 *   names give title ''. Items without any known text or attributes have no
 *   itemMeta entry; items with attributes but no title get title ''.
 *
 * A row here is a line: a bad line (unknown user/item id, no items) is
 * skipped whole with skipBadRows and counts as one skipped row.
 */
import { existsSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { DataError } from '../errors.js';
import type { RawDataset } from '../types.js';
import { RowBuilder, requireRows } from './builder.js';
import {
  type Json,
  type LoadOptions,
  RowError,
  defaultName,
  fileIn,
  forEachLine,
  forEachRecord,
  isObject,
  listDir,
  readJsonFile,
} from './common.js';
import { headerIndex } from './mllatest.js';

export interface S3RecOptions extends LoadOptions {
  /** Attach attribute names from datamaps.id2attribute: 'auto' (default) only when the numbering demonstrably matches. */
  attributeNames?: boolean | 'auto';
}

/** Picks the sequence file of an S3-Rec/P5 folder, or null. */
export async function findSequenceFile(dir: string): Promise<string | null> {
  const names = await listDir(dir);
  const txt = names.filter((n) => n.endsWith('.txt') && !/_sample\.txt$|^negative|^readme/i.test(n));
  for (const n of txt) {
    const stem = n.slice(0, -4);
    if (names.includes(`${stem}_item2attributes.json`)) return join(dir, n);
  }
  for (const n of ['sequential.txt', 'sequential_data.txt']) if (names.includes(n)) return join(dir, n);
  if (txt.length === 1 && names.includes('datamaps.json')) return join(dir, txt[0]);
  return null;
}

/** An id -> string map from a JSON object (values may be strings or numbers). */
function stringMap(file: string, v: Json | undefined, key: string, invert: boolean): Map<string, string> | null {
  if (v === undefined) return null;
  if (!isObject(v)) throw new DataError(file, undefined, key, 'expected a JSON object');
  const m = new Map<string, string>();
  for (const [k, val] of Object.entries(v)) {
    if (typeof val !== 'string' && typeof val !== 'number') throw new DataError(file, undefined, key, `entry '${k}' is not a string or number`);
    if (invert) m.set(String(val), k);
    else m.set(k, String(val));
  }
  return m;
}

interface DataMaps {
  id2item: Map<string, string> | null;
  id2user: Map<string, string> | null;
  id2attribute: Map<string, string> | null;
}

async function readDataMaps(file: string): Promise<DataMaps> {
  const d = await readJsonFile(file);
  if (!isObject(d)) throw new DataError(file, undefined, undefined, 'expected a JSON object');
  const id2item = stringMap(file, d.id2item, 'id2item', false) ?? stringMap(file, d.item2id, 'item2id', true);
  const id2user = stringMap(file, d.id2user, 'id2user', false) ?? stringMap(file, d.user2id, 'user2id', true);
  const id2attribute = stringMap(file, d.id2attribute, 'id2attribute', false);
  return { id2item, id2user, id2attribute };
}

/** Reads `{item: [attr ids]}`. */
async function readItemAttributes(file: string): Promise<Map<string, string[]>> {
  const d = await readJsonFile(file);
  if (!isObject(d)) throw new DataError(file, undefined, undefined, 'expected a JSON object {item: [attribute ids]}');
  const m = new Map<string, string[]>();
  for (const [k, v] of Object.entries(d)) {
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'number' || typeof x === 'string')) {
      throw new DataError(file, undefined, k, 'expected a list of attribute ids');
    }
    m.set(k, v.map((x) => String(x)));
  }
  return m;
}

/** ASIN -> title from dh-r's products_lookup.csv + item_id_to_int.json. */
async function readDhrTitles(lookupFile: string, intFile: string): Promise<Map<string, string>> {
  const asinToInt = await readJsonFile(intFile);
  if (!isObject(asinToInt)) throw new DataError(intFile, undefined, undefined, 'expected a JSON object {ASIN: int}');
  const byInt = new Map<string, string>();
  let cols: number[] | null = null;
  await forEachRecord(lookupFile, ',', {}, (f, lineNo) => {
    if (cols === null) {
      cols = headerIndex(lookupFile, lineNo, f, ['global_product_id', 'name']);
      return;
    }
    const id = f[cols[0]];
    const name = f[cols[1]];
    if (id === undefined || id.trim() === '') throw new RowError('global_product_id', 'missing');
    if (name === undefined) throw new RowError('name', 'missing');
    byInt.set(id.trim(), name);
  });
  const out = new Map<string, string>();
  for (const [asin, v] of Object.entries(asinToInt)) {
    const name = byInt.get(String(v as Json));
    if (name !== undefined) out.set(asin, name);
  }
  return out;
}

/** Whether item2attributes ids and datamaps.id2attribute are the same numbering. */
function sameAttributeNumbering(attrs: Map<string, string[]>, names: Map<string, string>): boolean {
  const used = new Set<string>();
  for (const ids of attrs.values()) for (const a of ids) used.add(a);
  if (used.size !== names.size) return false;
  for (const a of used) if (!names.has(a)) return false;
  return true;
}

/** Loads an S3-Rec/P5 folder (or its sequence file). */
export async function loadS3Rec(path: string, opts: S3RecOptions = {}): Promise<RawDataset> {
  const isDir = existsSync(path) && statSync(path).isDirectory();
  const dir = isDir ? path : dirname(path);
  const seqFile = isDir ? await findSequenceFile(dir) : path;
  if (seqFile === null) {
    throw new DataError(dir, undefined, undefined, 'no sequence file found (expected <Name>.txt with <Name>_item2attributes.json, or sequential.txt)');
  }
  const stem = basename(seqFile).replace(/\.txt$/, '');
  const mapsFile = fileIn(dir, 'datamaps.json');
  const maps: DataMaps = mapsFile !== null ? await readDataMaps(mapsFile) : { id2item: null, id2user: null, id2attribute: null };
  const mapsName = 'datamaps.json';

  const b = new RowBuilder(false, false);
  const skipped = await forEachLine(seqFile, { encoding: 'utf8', skipBadRows: opts.skipBadRows }, (line, _n, invalid) => {
    const tok = line.trim().split(/\s+/);
    if (invalid) throw new RowError(tok[0].includes('\uFFFD') ? 'user' : 'item', 'invalid UTF-8 bytes in an id');
    const user = tok[0];
    if (tok.length < 2) throw new RowError('items', `user '${user}' has no items`);
    if (maps.id2user !== null && !maps.id2user.has(user)) throw new RowError('user', `user '${user}' is not in ${mapsName} id2user`);
    if (maps.id2item !== null) {
      for (let k = 1; k < tok.length; k++) {
        if (!maps.id2item.has(tok[k])) throw new RowError('item', `item '${tok[k]}' (position ${k}) is not in ${mapsName} id2item`);
      }
    }
    for (let k = 1; k < tok.length; k++) b.push(user, tok[k]);
  });
  requireRows(b, seqFile, skipped);

  // Item metadata.
  const attrFile = fileIn(dir, `${stem}_item2attributes.json`);
  const attrs = attrFile !== null ? await readItemAttributes(attrFile) : null;
  let names: Map<string, string> | null = null;
  if (attrs !== null && maps.id2attribute !== null) {
    const want = opts.attributeNames ?? 'auto';
    if (want === true || (want === 'auto' && sameAttributeNumbering(attrs, maps.id2attribute))) names = maps.id2attribute;
  }
  const lookup = fileIn(dir, 'products_lookup.csv');
  const toInt = fileIn(dir, 'item_id_to_int.json');
  const titles = lookup !== null && toInt !== null && maps.id2item !== null ? await readDhrTitles(lookup, toInt) : null;

  const ids = b.items.ids;
  for (let i = 0; i < ids.length; i++) {
    const attributes: Record<string, string> = {};
    let title: string | undefined;
    const orig = maps.id2item?.get(ids[i]);
    if (orig !== undefined) {
      attributes._originalId = orig;
      if (titles !== null) title = titles.get(orig);
    }
    const a = attrs?.get(ids[i]);
    if (a !== undefined && a.length > 0) {
      attributes._attributeIds = a.join(' ');
      if (names !== null) {
        const seen = new Set<string>();
        const named: string[] = [];
        for (const x of a) {
          const n = names.get(x);
          if (n !== undefined && !seen.has(n)) {
            seen.add(n);
            named.push(n);
          }
        }
        if (named.length > 0) attributes.attributes = named.join(', ');
      }
    }
    if (title !== undefined || Object.keys(attributes).length > 0) b.itemMeta.set(i, { title: title ?? '', attributes });
  }
  return b.build(opts.name ?? defaultName(dir, true), seqFile, skipped);
}
