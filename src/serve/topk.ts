/**
 * Exact top-k for serving (docs/SERVING.md, "Scoring"): one pass over a
 * score row (a user's scores of every item, from the batched GEMM of
 * scoring.ts) through a bounded min-heap with an admission threshold, so no
 * full sort of every item's score is needed. Excluded items come as an
 * ascending list, searched only for scores that would enter.
 *
 * Ties are broken by the smaller item index (deterministic answers). NaN
 * and -Infinity scores are dropped: -Infinity is how a model says it cannot
 * rank an item (TIGER: no beam reached it), so an answer may hold fewer
 * than k items.
 */

export interface Scored {
  item: number;
  score: number;
}

/** Better = higher score, then smaller item index. */
function better(a: Scored, b: Scored): boolean {
  return a.score > b.score || (a.score === b.score && a.item < b.item);
}

/** A min-heap of at most k entries holding the k best seen so far. */
export class TopK {
  private readonly heap: Scored[] = [];

  constructor(readonly k: number) {
    if (!Number.isInteger(k) || k < 1) throw new Error(`top-k: k must be a positive integer, got ${k}`);
  }

  /** The worst kept entry (the heap root). */
  private worst(): Scored | undefined {
    return this.heap[0];
  }

  push(item: number, score: number): void {
    if (!(score > Number.NEGATIVE_INFINITY)) return; // NaN or -Infinity: not ranked
    const h = this.heap;
    const e = { item, score };
    if (h.length < this.k) {
      h.push(e);
      let i = h.length - 1;
      while (i > 0) {
        const p = (i - 1) >> 1;
        if (!better(h[p], h[i])) break; // parent is worse or equal: heap order holds
        [h[p], h[i]] = [h[i], h[p]];
        i = p;
      }
      return;
    }
    if (!better(e, this.worst()!)) return;
    h[0] = e;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && better(h[m], h[l])) m = l;
      if (r < h.length && better(h[m], h[r])) m = r;
      if (m === i) break;
      [h[m], h[i]] = [h[i], h[m]];
      i = m;
    }
  }

  /** Admission threshold: a score strictly below it cannot enter (−Infinity until full). */
  threshold(): number {
    return this.heap.length < this.k ? Number.NEGATIVE_INFINITY : this.worst()!.score;
  }

  /** Best first. */
  result(): Scored[] {
    return [...this.heap].sort((a, b) => (better(a, b) ? -1 : better(b, a) ? 1 : 0));
  }
}

/** True when `item` is in the ascending list `sorted` (binary search). */
export function inSorted(sorted: Int32Array, item: number): boolean {
  let lo = 0;
  let hi = sorted.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const v = sorted[mid];
    if (v === item) return true;
    if (v < item) lo = mid + 1; else hi = mid - 1;
  }
  return false;
}

/** The ascending, duplicate-free Int32Array of some item indices. */
export function sortedUnique(items: ArrayLike<number>): Int32Array {
  const a = Int32Array.from(items).sort();
  let w = 0;
  for (let r = 0; r < a.length; r++) if (r === 0 || a[r] !== a[r - 1]) a[w++] = a[r];
  return a.subarray(0, w);
}

/** Merges two ascending, duplicate-free lists (returns one of them when the other is empty). */
export function mergeSorted(a: Int32Array, b: Int32Array): Int32Array {
  if (b.length === 0) return a;
  if (a.length === 0) return b;
  const out = new Int32Array(a.length + b.length);
  let i = 0;
  let j = 0;
  let w = 0;
  while (i < a.length || j < b.length) {
    const v = j >= b.length || (i < a.length && a[i] <= b[j]) ? a[i++] : b[j++];
    if (w === 0 || out[w - 1] !== v) out[w++] = v;
  }
  return out.subarray(0, w);
}

/** Largest k the typed heap below is sized for (schemas.ts LIMITS.maxK is 100). */
const HEAP_CAP = 1024;
const heapItems = new Int32Array(HEAP_CAP);
const heapScores = new Float32Array(HEAP_CAP);

/** Entry a is worse than entry b: lower score, or equal score and larger item. */
function worse(sa: number, ia: number, sb: number, ib: number): boolean {
  return sa < sb || (sa === sb && ia > ib);
}

function siftDown(size: number, i0: number): void {
  let i = i0;
  for (;;) {
    const l = 2 * i + 1;
    const r = l + 1;
    let m = i;
    if (l < size && worse(heapScores[l], heapItems[l], heapScores[m], heapItems[m])) m = l;
    if (r < size && worse(heapScores[r], heapItems[r], heapScores[m], heapItems[m])) m = r;
    if (m === i) return;
    const ts = heapScores[m]; heapScores[m] = heapScores[i]; heapScores[i] = ts;
    const ti = heapItems[m]; heapItems[m] = heapItems[i]; heapItems[i] = ti;
    i = m;
  }
}

function siftUp(i0: number): void {
  let i = i0;
  while (i > 0) {
    const p = (i - 1) >> 1;
    if (!worse(heapScores[i], heapItems[i], heapScores[p], heapItems[p])) return;
    const ts = heapScores[p]; heapScores[p] = heapScores[i]; heapScores[i] = ts;
    const ti = heapItems[p]; heapItems[p] = heapItems[i]; heapItems[i] = ti;
    i = p;
  }
}

function heapResult(size: number): Scored[] {
  const out: Scored[] = new Array(size);
  for (let j = 0; j < size; j++) out[j] = { item: heapItems[j], score: heapScores[j] };
  return out.sort((a, b) => (better(a, b) ? -1 : better(b, a) ? 1 : 0));
}

/**
 * Exact top-k of one score row in one pass (docs/SERVING.md, "Scoring"):
 * `row[off + i]` is item i's score for i in 1..n. A score enters only when it
 * beats the heap's worst entry (the threshold), so most items cost one
 * comparison; `skip` (ascending) is consulted only for those that would
 * enter. Ties go to the smaller item (items are scanned in ascending order,
 * so an equal score never displaces a kept item). NaN scores are dropped.
 * The heap lives in two preallocated typed arrays: no allocation but the answer.
 */
export function topKRow(row: Float32Array, off: number, n: number, k: number, skip: Int32Array): Scored[] {
  if (!Number.isInteger(k) || k < 1 || k > HEAP_CAP) throw new Error(`top-k: k must be an integer in [1, ${HEAP_CAP}], got ${k}`);
  let size = 0;
  let th = Number.NEGATIVE_INFINITY;
  const hasSkip = skip.length > 0;
  for (let i = 1; i <= n; i++) {
    const s = row[off + i];
    if (size === k) {
      if (!(s > th)) continue;
    } else if (!(s > Number.NEGATIVE_INFINITY)) continue; // NaN or -Infinity: not ranked
    if (hasSkip && inSorted(skip, i)) continue;
    if (size < k) {
      heapScores[size] = s; heapItems[size] = i; siftUp(size); size++;
      if (size === k) th = heapScores[0];
    } else {
      heapScores[0] = s; heapItems[0] = i; siftDown(size, 0);
      th = heapScores[0];
    }
  }
  return heapResult(size);
}

/** Exact top-k among `allowed` items (a candidate list) of one score row, skipping `skip` (ascending). */
export function topKRowOf(row: Float32Array, off: number, allowed: readonly number[], k: number, skip: Int32Array): Scored[] {
  const top = new TopK(k);
  for (const item of allowed) if (!inSorted(skip, item)) top.push(item, row[off + item]);
  return top.result();
}
