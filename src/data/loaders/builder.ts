/**
 * RowBuilder: accumulates interaction rows into compact grow-able typed
 * arrays (Int32 user/item indices, Float64 times, Float32 ratings) with
 * interned string ids, and produces the RawDataset. Rows are pushed only
 * after every field of the row was validated, so a bad row never leaves a
 * partial entry behind.
 */
import { DataError } from '../errors.js';
import type { ItemMeta, RawDataset } from '../types.js';

/**
 * A private copy of a string that will be kept long-term. Substrings of 13+
 * characters (from split/slice of a chunk's text) are V8 "sliced strings"
 * that keep the whole 1 MiB chunk alive; copying the few kept ids and texts
 * keeps memory bounded by the output rather than by the file.
 */
export function own(s: string): string {
  return s.length < 13 ? s : Buffer.from(s, 'utf8').toString('utf8');
}

/** Largest numeric id kept in the dense lookup table (bigger ones go through the Map). */
const DENSE_MAX = 1 << 24;

/**
 * String id -> dense index, first-seen order. Canonical decimal ids ("0",
 * "42", not "042") below 2^24 are looked up in a typed array (no string
 * hashing: the common case of MovieLens and S3-Rec ids); other ids use a Map.
 */
export class Interner {
  readonly ids: string[] = [];
  private readonly index = new Map<string, number>();
  /** numeric id -> index + 1 (0 = absent). */
  private dense = new Int32Array(1024);

  /** The numeric value of a canonical decimal id below DENSE_MAX, else -1. */
  private static numeric(id: string): number {
    const n = id.length;
    if (n === 0 || n > 8) return -1;
    let v = 0;
    for (let k = 0; k < n; k++) {
      const c = id.charCodeAt(k) - 48;
      if (c < 0 || c > 9 || (c === 0 && k === 0 && n > 1)) return -1;
      v = v * 10 + c;
    }
    return v < DENSE_MAX ? v : -1;
  }

  /** The index of `id`, adding it when new. */
  intern(id: string): number {
    const v = Interner.numeric(id);
    if (v >= 0) {
      if (v >= this.dense.length) {
        let cap = this.dense.length;
        while (cap <= v) cap *= 2;
        const d = new Int32Array(Math.min(cap, DENSE_MAX));
        d.set(this.dense);
        this.dense = d;
      }
      const j = this.dense[v];
      if (j > 0) return j - 1;
      const i = this.ids.length;
      this.dense[v] = i + 1;
      this.ids.push(id);
      return i;
    }
    let i = this.index.get(id);
    if (i === undefined) {
      i = this.ids.length;
      const kept = own(id);
      this.index.set(kept, i);
      this.ids.push(kept);
    }
    return i;
  }

  /** The index of `id`, or undefined when never seen. */
  get(id: string): number | undefined {
    const v = Interner.numeric(id);
    if (v >= 0) {
      const j = v < this.dense.length ? this.dense[v] : 0;
      return j > 0 ? j - 1 : undefined;
    }
    return this.index.get(id);
  }

  get size(): number {
    return this.ids.length;
  }
}

export class RowBuilder {
  readonly users = new Interner();
  readonly items = new Interner();
  readonly itemMeta = new Map<number, ItemMeta>();
  private cap = 1024;
  private n = 0;
  private user = new Int32Array(this.cap);
  private item = new Int32Array(this.cap);
  private time: Float64Array | null;
  private rating: Float32Array | null;

  constructor(hasTime: boolean, hasRating: boolean) {
    this.time = hasTime ? new Float64Array(this.cap) : null;
    this.rating = hasRating ? new Float32Array(this.cap) : null;
  }

  get rows(): number {
    return this.n;
  }

  private grow(): void {
    const cap = this.cap * 2;
    const u = new Int32Array(cap);
    u.set(this.user);
    this.user = u;
    const it = new Int32Array(cap);
    it.set(this.item);
    this.item = it;
    if (this.time) {
      const t = new Float64Array(cap);
      t.set(this.time);
      this.time = t;
    }
    if (this.rating) {
      const r = new Float32Array(cap);
      r.set(this.rating);
      this.rating = r;
    }
    this.cap = cap;
  }

  /** Appends one validated row (time / rating are ignored when the dataset has none). */
  push(user: string, item: string, time = 0, rating = 0): void {
    if (this.n === this.cap) this.grow();
    const k = this.n++;
    this.user[k] = this.users.intern(user);
    this.item[k] = this.items.intern(item);
    if (this.time) this.time[k] = time;
    if (this.rating) this.rating[k] = rating;
  }

  /** The finished dataset (arrays trimmed to the row count). */
  build(name: string, source: string, skippedRows: number): RawDataset {
    const n = this.n;
    const trim = <T extends Int32Array | Float32Array | Float64Array>(a: T): T => (a.length === n ? a : (a.slice(0, n) as T));
    return {
      name,
      source,
      userIds: this.users.ids,
      itemIds: this.items.ids,
      user: trim(this.user),
      item: trim(this.item),
      time: this.time ? trim(this.time) : null,
      rating: this.rating ? trim(this.rating) : null,
      itemMeta: this.itemMeta,
      skippedRows,
    };
  }
}

/** Throws a DataError when an interactions file produced no rows at all. */
export function requireRows(b: RowBuilder, file: string, skipped: number): void {
  if (b.rows > 0) return;
  throw new DataError(file, undefined, undefined, skipped > 0 ? `no valid rows (${skipped} bad rows skipped)` : 'no data rows');
}

/** Fills `b.itemMeta` from an external-id table (ids not in the interactions are ignored). */
export function attachMeta(b: RowBuilder, table: Map<string, ItemMeta>): void {
  const ids = b.items.ids;
  for (let i = 0; i < ids.length; i++) {
    const m = table.get(ids[i]);
    if (m !== undefined) b.itemMeta.set(i, m);
  }
}
