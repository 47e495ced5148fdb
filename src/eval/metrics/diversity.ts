/** Metrics of top-k lists: catalogue coverage and intra-list diversity. */

/**
 * Catalogue coverage: share of the items 1..numItems that appear in at least
 * one of the (top-k) lists. Entries outside 1..numItems (e.g. padding 0) are ignored.
 */
export function coverage(lists: readonly ArrayLike<number>[], numItems: number): number {
  if (!Number.isInteger(numItems) || numItems < 1) throw new Error(`coverage: numItems must be a positive integer, got ${numItems}`);
  const seen = new Uint8Array(numItems + 1);
  let n = 0;
  for (const list of lists) {
    for (let i = 0; i < list.length; i++) {
      const it = list[i];
      if (it >= 1 && it <= numItems && Number.isInteger(it) && seen[it] === 0) {
        seen[it] = 1;
        n++;
      }
    }
  }
  return n / numItems;
}

/** Cosine of rows x and y of a row-major [rows * dim] matrix; 0 when either has norm 0. */
function rowCosine(v: ArrayLike<number>, dim: number, x: number, y: number): number {
  let dot = 0;
  let nx = 0;
  let ny = 0;
  const ox = x * dim;
  const oy = y * dim;
  for (let d = 0; d < dim; d++) {
    const a = v[ox + d];
    const b = v[oy + d];
    dot += a * b;
    nx += a * a;
    ny += b * b;
  }
  return nx > 0 && ny > 0 ? dot / Math.sqrt(nx * ny) : 0;
}

/**
 * Intra-list diversity of one list: mean over unordered pairs of its items of
 * 1 - cos(v_i, v_j), with item vectors the rows of `vectors` ([rows * dim],
 * e.g. Recommender.itemEmbeddings()). A zero vector has cosine 0 with anything.
 * Lists with fewer than 2 items have no pair: 0.
 */
export function intraListDiversity(list: ArrayLike<number>, vectors: ArrayLike<number>, dim: number): number {
  if (!Number.isInteger(dim) || dim < 1) throw new Error(`intraListDiversity: dim must be a positive integer, got ${dim}`);
  const rows = Math.floor(vectors.length / dim);
  for (let i = 0; i < list.length; i++) {
    if (!(list[i] >= 0 && list[i] < rows)) throw new RangeError(`intraListDiversity: item ${list[i]} has no vector (rows ${rows})`);
  }
  if (list.length < 2) return 0;
  let s = 0;
  let pairs = 0;
  for (let i = 0; i < list.length; i++) {
    for (let j = i + 1; j < list.length; j++) {
      s += 1 - rowCosine(vectors, dim, list[i], list[j]);
      pairs++;
    }
  }
  return s / pairs;
}

/** Mean intra-list diversity over the lists that have at least 2 items (0 when none has). */
export function meanIntraListDiversity(lists: readonly ArrayLike<number>[], vectors: ArrayLike<number>, dim: number): number {
  let s = 0;
  let n = 0;
  for (const list of lists) {
    if (list.length < 2) continue;
    s += intraListDiversity(list, vectors, dim);
    n++;
  }
  return n > 0 ? s / n : 0;
}
