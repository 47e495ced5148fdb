/**
 * The per-item cache of text vectors (docs/METHODS.md §3.10). Each item's row
 * is keyed by the SHA-256 of its text; a cache belongs to one encoder identity
 * (settings, fitted corpus, weights: `ItemTextEncoder.identity`) and one
 * dataset scope, so changing the encoder or a text re-encodes exactly the
 * items whose key changed.
 *
 * With a directory the cache is a file `<dir>/text-<hash>.safetensors`
 * (tensor `vectors` [n, dim], metadata: format, identity, scope, keys),
 * rewritten atomically after new items were encoded; a file of another
 * identity or a damaged one is ignored (and replaced). Without a directory the
 * cache lives in memory for the process.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { readSafetensors, writeSafetensors } from '../../io/safetensors.js';
import type { ItemTextEncoder } from './types.js';

export const TEXT_CACHE_FORMAT = 'llmrec-text-cache';

export interface EncodeItemsOptions {
  /** Directory of the cache file (default: the in-memory cache). */
  cacheDir?: string;
  /** The dataset the texts come from (part of the cache key). */
  scope?: string;
}

export interface EncodedItems {
  /** [texts.length * dim] rows in the order of `texts`. */
  vectors: Float32Array;
  dim: number;
  /** Texts served from the cache / encoded now. */
  hits: number;
  misses: number;
  /** The cache file, when a directory was given. */
  file?: string;
  seconds: number;
}

const memory = new Map<string, Map<string, Float32Array>>();

function sha(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}

/** The cache key of one text. */
export function textKey(text: string): string {
  return sha(text).slice(0, 24);
}

/** The cache file of an (encoder identity, scope) pair in `dir`. */
export function cacheFile(dir: string, identity: string, scope: string): string {
  return join(dir, `text-${sha(`${identity}\n${scope}`).slice(0, 16)}.safetensors`);
}

function readCacheFile(file: string, identity: string, scope: string, dim: number): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  if (!existsSync(file)) return out;
  try {
    const f = readSafetensors(file);
    const m = f.metadata;
    const v = f.tensors.get('vectors');
    if (m.format !== TEXT_CACHE_FORMAT || m.identity !== identity || m.scope !== scope || !v || v.dtype !== 'F32') return out;
    const keys = JSON.parse(m.keys ?? '[]') as unknown;
    if (!Array.isArray(keys) || v.shape.length !== 2 || v.shape[0] !== keys.length || v.shape[1] !== dim) return out;
    const data = v.data as Float32Array;
    keys.forEach((k, i) => { if (typeof k === 'string') out.set(k, data.slice(i * dim, (i + 1) * dim)); });
  } catch {
    // A damaged cache is a miss, never an error: it is rebuilt and replaced.
    out.clear();
  }
  return out;
}

/** Encodes `texts` with `encoder`, reusing and extending the cache (see the file comment). */
export function encodeItems(encoder: ItemTextEncoder, texts: readonly string[], opts: EncodeItemsOptions = {}): EncodedItems {
  const t0 = performance.now();
  const D = encoder.dim;
  const scope = opts.scope ?? '';
  const memKey = `${encoder.identity}\n${scope}`;
  let file: string | undefined;
  let table: Map<string, Float32Array>;
  if (opts.cacheDir !== undefined) {
    file = cacheFile(opts.cacheDir, encoder.identity, scope);
    table = readCacheFile(file, encoder.identity, scope, D);
  } else {
    table = memory.get(memKey) ?? new Map<string, Float32Array>();
    memory.set(memKey, table);
  }
  const keys = texts.map(textKey);
  const todo: number[] = [];
  const seen = new Set<string>();
  keys.forEach((k, i) => { if (!table.has(k) && !seen.has(k)) { seen.add(k); todo.push(i); } });
  if (todo.length > 0) {
    const rows = encoder.encode(todo.map((i) => texts[i]));
    if (rows.length !== todo.length * D) throw new Error(`${encoder.name}: encode returned ${rows.length} values for ${todo.length} texts of dim ${D}`);
    todo.forEach((i, j) => table.set(keys[i], rows.slice(j * D, (j + 1) * D)));
    if (file !== undefined && opts.cacheDir !== undefined) {
      mkdirSync(opts.cacheDir, { recursive: true });
      const allKeys = [...table.keys()];
      const data = new Float32Array(allKeys.length * D);
      allKeys.forEach((k, i) => data.set(table.get(k)!, i * D));
      writeSafetensors(file, { vectors: { dtype: 'F32', shape: [allKeys.length, D], data } }, {
        format: TEXT_CACHE_FORMAT, identity: encoder.identity, scope, keys: JSON.stringify(allKeys),
      });
    }
  }
  const vectors = new Float32Array(texts.length * D);
  keys.forEach((k, i) => vectors.set(table.get(k)!, i * D));
  return { vectors, dim: D, hits: texts.length - todo.length, misses: todo.length, file, seconds: (performance.now() - t0) / 1000 };
}

/** Empties the in-memory cache (tests). */
export function clearMemoryCache(): void {
  memory.clear();
}
