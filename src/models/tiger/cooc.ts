/**
 * Collaborative item vectors for semantic ids (docs/METHODS.md §10,
 * "Collaborative share"): a spectral embedding of the items' positive
 * pointwise mutual information (PPMI) in the training sequences.
 *
 *  1. Co-occurrence from the training rows only (`data.train`: the target of
 *     a sliding-window row and the last `window` items before it, weight
 *     1 / distance, counted both ways). Validation and test targets never
 *     enter it (tested).
 *  2. PPMI(a, b) = max(0, log(C(a, b) C / (C(a) C(b)))), kept sparse.
 *  3. Randomised subspace iteration (Halko, Martinsson and Tropp 2011): Q
 *     [items, dim] seeded Gaussian, then `iters` times Q <- orth(M Q). The
 *     item vectors are the rows of M Q. Since Q spans M's leading eigenspace
 *     (M = U S U^T, Q ~ U_k R with R a rotation), M Q ~ U_k S_k R: the rank-k
 *     embedding up to a rotation, which distances (k-means) do not see. No
 *     eigendecomposition is needed.
 *
 * Items with no training co-occurrence (cold or never-seen items) get a zero
 * row; their number is returned. Memory: the sparse matrix (one entry per
 * distinct co-occurring pair) plus two dense [items, dim] matrices.
 */
import type { SplitDataset } from '../../data/types.js';
import { mixSeed, Mulberry32 } from '../../util/random.js';
import type { VectorMatrix } from './semantic_ids.js';

export interface CoocOptions {
  /** Dimension of the embedding (columns of Q). */
  dim: number;
  /** History items before each training target that co-occur with it. */
  window: number;
  /** Subspace iterations. */
  iters: number;
  seed: number;
}

export interface CoocVectors extends VectorMatrix {
  /** Items without any training co-occurrence (zero rows). */
  isolated: number;
  /** Nonzero PPMI entries. */
  entries: number;
}

/** PPMI rows of items 1..n as CSR over item indices 0..n-1. */
interface Csr {
  ptr: Int32Array;
  idx: Int32Array;
  val: Float64Array;
}

function ppmi(data: Pick<SplitDataset, 'numItems' | 'train'>, window: number): Csr {
  const n = data.numItems;
  const tr = data.train;
  const rows: Array<Map<number, number>> = Array.from({ length: n }, () => new Map());
  const deg = new Float64Array(n);
  let total = 0;
  const add = (a: number, b: number, w: number) => {
    const r = rows[a];
    r.set(b, (r.get(b) ?? 0) + w);
    deg[a] += w;
  };
  for (let r = 0; r < tr.count; r++) {
    const t = tr.target[r];
    if (t < 1 || t > n) throw new Error(`collaborative vectors: training row ${r} has target ${t}, outside items 1..${n}`);
    for (let d = 1; d <= window && d <= tr.L; d++) {
      const h = tr.history[r * tr.L + tr.L - d];
      if (h === 0) break;
      if (h < 1 || h > n) throw new Error(`collaborative vectors: training row ${r} has history item ${h}, outside items 1..${n}`);
      const w = 1 / d;
      add(t - 1, h - 1, w);
      add(h - 1, t - 1, w);
      total += 2 * w;
    }
  }
  const ptr = new Int32Array(n + 1);
  const idx: number[] = [];
  const val: number[] = [];
  for (let a = 0; a < n; a++) {
    const entries = [...rows[a]].sort((x, y) => x[0] - y[0]);
    for (const [b, c] of entries) {
      const v = Math.log((c * total) / (deg[a] * deg[b]));
      if (v > 0) {
        idx.push(b);
        val.push(v);
      }
    }
    ptr[a + 1] = idx.length;
  }
  return { ptr, idx: Int32Array.from(idx), val: Float64Array.from(val) };
}

/** Y = M X for the CSR M [n, n] and the dense X [n, k]. */
function mul(m: Csr, x: Float64Array, n: number, k: number): Float64Array {
  const y = new Float64Array(n * k);
  for (let a = 0; a < n; a++) {
    const o = a * k;
    for (let j = m.ptr[a]; j < m.ptr[a + 1]; j++) {
      const ob = m.idx[j] * k;
      const v = m.val[j];
      for (let c = 0; c < k; c++) y[o + c] += v * x[ob + c];
    }
  }
  return y;
}

/** Orthonormalise the columns of X [n, k] in place (modified Gram-Schmidt; a null column stays zero). */
function orthonormalise(x: Float64Array, n: number, k: number): void {
  for (let c = 0; c < k; c++) {
    for (let p = 0; p < c; p++) {
      let d = 0;
      for (let i = 0; i < n; i++) d += x[i * k + c] * x[i * k + p];
      for (let i = 0; i < n; i++) x[i * k + c] -= d * x[i * k + p];
    }
    let s = 0;
    for (let i = 0; i < n; i++) s += x[i * k + c] ** 2;
    s = Math.sqrt(s);
    for (let i = 0; i < n; i++) x[i * k + c] = s > 1e-12 ? x[i * k + c] / s : 0;
  }
}

/** Collaborative item vectors [numItems, dim] (row i - 1 is item i) from the training rows. */
export function coocVectors(data: Pick<SplitDataset, 'numItems' | 'train'>, o: CoocOptions): CoocVectors {
  for (const k of ['dim', 'window', 'iters'] as const) {
    if (!Number.isInteger(o[k]) || o[k] < 1) throw new Error(`collaborative vectors: ${k} must be an integer >= 1, got ${o[k]}`);
  }
  const n = data.numItems;
  const k = o.dim;
  const m = ppmi(data, o.window);
  const rng = new Mulberry32(mixSeed(o.seed, 0xc00c));
  let q: Float64Array = new Float64Array(n * k);
  for (let i = 0; i < q.length; i++) q[i] = rng.normal();
  for (let it = 0; it < o.iters; it++) {
    q = mul(m, q, n, k);
    orthonormalise(q, n, k);
  }
  const y = mul(m, q, n, k);
  let isolated = 0;
  for (let a = 0; a < n; a++) if (m.ptr[a + 1] === m.ptr[a]) isolated++;
  return { rows: n, dim: k, data: Float32Array.from(y), isolated, entries: m.idx.length };
}

/**
 * Rows of `text` and `collab` L2-normalised, scaled by sqrt(1 - share) and
 * sqrt(share) and concatenated, so `share` is the collaborative part of every
 * (non-zero) row's squared norm. share 1 keeps the collaborative rows only.
 */
export function mixVectors(text: VectorMatrix, collab: VectorMatrix, share: number): VectorMatrix {
  if (!(share > 0 && share <= 1)) throw new Error(`collaborative vectors: share must be in (0, 1], got ${share}`);
  if (text.rows !== collab.rows) throw new Error(`collaborative vectors: ${text.rows} text rows against ${collab.rows} collaborative rows`);
  const parts = share === 1 ? [{ m: collab, w: 1 }] : [{ m: text, w: Math.sqrt(1 - share) }, { m: collab, w: Math.sqrt(share) }];
  const dim = parts.reduce((s, p) => s + p.m.dim, 0);
  const out = new Float32Array(text.rows * dim);
  for (let i = 0; i < text.rows; i++) {
    let off = i * dim;
    for (const { m, w } of parts) {
      let s = 0;
      for (let j = 0; j < m.dim; j++) s += m.data[i * m.dim + j] ** 2;
      const f = s > 0 ? w / Math.sqrt(s) : 0;
      for (let j = 0; j < m.dim; j++) out[off + j] = m.data[i * m.dim + j] * f;
      off += m.dim;
    }
  }
  return { rows: text.rows, dim, data: out };
}
