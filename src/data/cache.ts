/**
 * The compact typed form of an ingested dataset, kept on disk so a large raw
 * source (an Amazon 2023 category is several GB of JSON lines, minutes to
 * parse) is parsed once: the RawDataset's row arrays go into a safetensors
 * file (I32 user/item, F64 time, F32 rating; review text and user features
 * as U8 tensors of UTF-8 JSON) and its ids and item metadata into the
 * header's metadata. Loading it back is a single read.
 *
 * The cache key covers the resolved source path, the loader options and the
 * size and modification time of every source file, so an edited source or
 * different options never hit a stale entry. Entries are written atomically.
 * Location: env LLMREC_CACHE_DIR, else $XDG_CACHE_HOME/llmrec, else
 * ~/.cache/llmrec.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { readSafetensors, writeSafetensors, type SafeTensor } from '../io/safetensors.js';
import type { ItemMeta, ReviewText, RawDataset } from './types.js';

/** v2: review text (RawDataset.reviews) and user features (RawDataset.userFeatures) are kept. */
const FORMAT = 'llmrec-raw-dataset-v2';

export function cacheDir(): string {
  if (process.env.LLMREC_CACHE_DIR) return process.env.LLMREC_CACHE_DIR;
  const base = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(base, 'llmrec');
}

/**
 * Size and mtime of the source (a file, or every regular file directly in a
 * folder; symlinks followed). Entries that are not regular files (folders,
 * FIFOs, devices) or cannot be resolved (a dangling symlink) are left out:
 * no loader reads them, so they neither break nor change the key.
 */
function sourceFingerprint(path: string): Array<[string, number, number]> {
  const st = statSync(path, { throwIfNoEntry: false });
  if (st === undefined) return [];
  const files = st.isDirectory() ? readdirSync(path).sort().map((f) => join(path, f)) : [path];
  return files.flatMap((f) => {
    let s;
    try {
      s = statSync(f, { throwIfNoEntry: false });
    } catch {
      s = undefined; // a symlink loop, an unreadable entry: not a source file either
    }
    return s !== undefined && s.isFile() ? [[f, s.size, Math.trunc(s.mtimeMs)] as [string, number, number]] : [];
  });
}

/** Total bytes of the source files (callers cache only large sources). */
export function sourceBytes(path: string): number {
  return sourceFingerprint(path).reduce((s, [, size]) => s + size, 0);
}

export function cacheKey(path: string, options: unknown): string {
  const h = createHash('sha256');
  h.update(JSON.stringify({ format: FORMAT, path, options, files: sourceFingerprint(path) }));
  return h.digest('hex').slice(0, 32);
}

export function cacheFile(path: string, options: unknown): string {
  return join(cacheDir(), `${cacheKey(path, options)}.safetensors`);
}

export function writeCachedDataset(file: string, raw: RawDataset): void {
  mkdirSync(join(file, '..'), { recursive: true });
  const n = raw.user.length;
  const tensors: Record<string, SafeTensor> = {
    user: { dtype: 'I32', shape: [n], data: raw.user },
    item: { dtype: 'I32', shape: [n], data: raw.item },
  };
  if (raw.time) tensors.time = { dtype: 'F64', shape: [n], data: raw.time };
  if (raw.rating) tensors.rating = { dtype: 'F32', shape: [n], data: raw.rating };
  if (raw.reviews) {
    // Review text can be large: UTF-8 JSON in the data block, not the header.
    const bytes = new TextEncoder().encode(JSON.stringify(raw.reviews));
    tensors.reviews = { dtype: 'U8', shape: [bytes.length], data: bytes };
  }
  if (raw.userFeatures) {
    // UTF-8 JSON of the entries array [[user index, features], ...].
    const bytes = new TextEncoder().encode(JSON.stringify([...raw.userFeatures.entries()]));
    tensors.userFeatures = { dtype: 'U8', shape: [bytes.length], data: bytes };
  }
  writeSafetensors(file, tensors, {
    format: FORMAT,
    name: raw.name,
    source: raw.source,
    skippedRows: String(raw.skippedRows),
    userIds: JSON.stringify(raw.userIds),
    itemIds: JSON.stringify(raw.itemIds),
    itemMeta: JSON.stringify([...raw.itemMeta.entries()]),
  });
}

/** The cached dataset, or null when the file is absent or not a cache entry of this version. */
export function readCachedDataset(file: string): RawDataset | null {
  if (!existsSync(file)) return null;
  const f = readSafetensors(file);
  const m = f.metadata;
  if (m.format !== FORMAT) return null;
  const get = (k: string) => f.tensors.get(k)?.data;
  const user = get('user');
  const item = get('item');
  if (!(user instanceof Int32Array) || !(item instanceof Int32Array)) throw new Error(`${file}: corrupt dataset cache (user/item arrays)`);
  const time = get('time');
  const rating = get('rating');
  const reviews = get('reviews');
  const userFeatures = get('userFeatures');
  return {
    name: m.name,
    source: m.source,
    userIds: JSON.parse(m.userIds) as string[],
    itemIds: JSON.parse(m.itemIds) as string[],
    user,
    item,
    time: time instanceof Float64Array ? time : null,
    rating: rating instanceof Float32Array ? rating : null,
    itemMeta: new Map(JSON.parse(m.itemMeta) as Array<[number, ItemMeta]>),
    skippedRows: Number(m.skippedRows),
    ...(reviews instanceof Uint8Array ? { reviews: JSON.parse(new TextDecoder().decode(reviews)) as Array<ReviewText | null> } : {}),
    ...(userFeatures instanceof Uint8Array
      ? { userFeatures: new Map(JSON.parse(new TextDecoder().decode(userFeatures)) as Array<[number, Record<string, string>]>) }
      : {}),
  };
}
