/**
 * Exact top-k for serving (docs/SERVING.md, "Scoring"): scores are computed
 * block by block of items (a user vector against a block of the precomputed
 * item matrix) and pushed through a bounded min-heap, so memory stays O(k)
 * beyond one block and no full sort of every item's score is needed.
 *
 * Ties are broken by the smaller item index (deterministic answers).
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
    if (Number.isNaN(score)) return;
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

/** Items per block of the blocked dot-product scan. */
export const SCORE_BLOCK = 2048;

/**
 * Exact top-k of u · items[i] over items 1..n (row 0 is padding), skipping
 * `excluded` items; `allowed` restricts the scan to a candidate list.
 */
export function topKDot(
  u: Float32Array, items: Float32Array, dim: number, n: number, k: number,
  excluded: ReadonlySet<number>, allowed?: readonly number[],
): Scored[] {
  const top = new TopK(k);
  const block = new Float32Array(SCORE_BLOCK);
  const ids = allowed ?? null;
  const total = ids ? ids.length : n;
  for (let s = 0; s < total; s += SCORE_BLOCK) {
    const e = Math.min(total, s + SCORE_BLOCK);
    for (let j = s; j < e; j++) {
      const item = ids ? ids[j] : j + 1;
      const off = item * dim;
      let acc = 0;
      for (let d = 0; d < dim; d++) acc += u[d] * items[off + d];
      block[j - s] = acc;
    }
    const th = top.threshold();
    for (let j = s; j < e; j++) {
      const sc = block[j - s];
      if (sc < th) continue;
      const item = ids ? ids[j] : j + 1;
      if (excluded.has(item)) continue;
      top.push(item, sc);
    }
  }
  return top.result();
}

/** Exact top-k of a full score row (index = item; index 0 ignored). */
export function topKOfScores(scores: Float32Array, k: number, excluded: ReadonlySet<number>, allowed?: readonly number[]): Scored[] {
  const top = new TopK(k);
  if (allowed) {
    for (const item of allowed) if (!excluded.has(item)) top.push(item, scores[item]);
  } else {
    for (let item = 1; item < scores.length; item++) if (!excluded.has(item)) top.push(item, scores[item]);
  }
  return top.result();
}
