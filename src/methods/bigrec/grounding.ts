/**
 * BIGRec's second step, grounding to the actual item space (Bao et al., "A
 * Bi-Step Grounding Paradigm for Large Recommendation Language Models",
 * arXiv 2308.08434; docs/LLM.md "BIGRec"): the generated text and every item
 * title are embedded, each item's distance D_i to the generated text is
 * computed (L2 between LM embeddings, or 1 - cosine between TF-IDF vectors),
 * min-max normalised per user to D^_i in [0, 1], and re-weighted by the
 * item's min-max normalised popularity P^_i (and, the same way, by a
 * collaborative model's normalised score S^_i for the user):
 *
 *   D~_i = D^_i / (1 + P^_i)^gamma_pop / (1 + S^_i)^gamma_collab
 *
 * Items are ranked by ascending D~ (scores are -D~). gamma = 0 is plain
 * grounding. Everything here is pure arithmetic on arrays, hand-checked in
 * test/bigrec.test.ts.
 */
import { tf } from '../../engine/index.js';
import type { CausalLM } from '../../lm/families/decoder.js';

/** Row-major [n, d] float vectors. */
export interface Vectors {
  n: number;
  d: number;
  data: Float32Array;
}

/**
 * Mean-pooled last hidden states of each text's tokens (padding excluded):
 * texts are right-padded to the longest of a batch of `batch`, which a causal
 * model's real tokens never attend to.
 */
export function lmEmbeddings(model: CausalLM, texts: readonly number[][], pad: number, batch = 32): Vectors {
  const d = model.hiddenSize;
  const out = new Float32Array(texts.length * d);
  for (let s = 0; s < texts.length; s += batch) {
    const group = texts.slice(s, s + batch).map((t) => (t.length ? t : [pad]));
    const T = Math.max(...group.map((t) => t.length));
    const ids = new Int32Array(group.length * T).fill(pad);
    const mask = new Float32Array(group.length * T);
    group.forEach((t, i) => { ids.set(t, i * T); mask.fill(1, i * T, i * T + t.length); });
    const pooled = tf.tidy(() => {
      const { hidden } = model.forward({ inputIds: ids, batch: group.length, attentionMask: mask });
      const m = tf.tensor3d(mask, [group.length, T, 1]);
      return tf.div(tf.sum(tf.mul(hidden, m), 1), tf.sum(m, 1)).dataSync() as Float32Array;
    });
    out.set(pooled, s * d);
  }
  return { n: texts.length, d, data: out };
}

/** Lower-case word tokens (letters and digits of any script). */
export function tfidfWords(s: string): string[] {
  return s.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
}

/** TF-IDF over a fixed document collection (the item titles): IDF from the collection, vectors L2-normalised. */
export class TfIdf {
  private readonly vocab = new Map<string, number>();
  private readonly idf: number[] = [];
  readonly docs: Array<Map<number, number>>;

  constructor(docs: readonly string[]) {
    const df: number[] = [];
    const tokenized = docs.map(tfidfWords);
    for (const ws of tokenized) {
      for (const w of new Set(ws)) {
        let id = this.vocab.get(w);
        if (id === undefined) { id = this.vocab.size; this.vocab.set(w, id); df.push(0); }
        df[id]++;
      }
    }
    const N = docs.length;
    for (let i = 0; i < df.length; i++) this.idf.push(Math.log((1 + N) / (1 + df[i])) + 1);
    this.docs = tokenized.map((ws) => this.vectorOfWords(ws));
  }

  private vectorOfWords(ws: readonly string[]): Map<number, number> {
    const v = new Map<number, number>();
    for (const w of ws) {
      const id = this.vocab.get(w);
      if (id !== undefined) v.set(id, (v.get(id) ?? 0) + 1);
    }
    let norm = 0;
    for (const [id, tfv] of v) { const x = tfv * this.idf[id]; v.set(id, x); norm += x * x; }
    norm = Math.sqrt(norm);
    if (norm > 0) for (const [id, x] of v) v.set(id, x / norm);
    return v;
  }

  /** The L2-normalised TF-IDF vector of a text (words outside the collection ignored). */
  vector(text: string): Map<number, number> {
    return this.vectorOfWords(tfidfWords(text));
  }

  /** 1 - cosine between `text` and every document (1 for a text with no known word). */
  distances(text: string): Float64Array {
    const q = this.vector(text);
    return Float64Array.from(this.docs, (doc) => {
      let dot = 0;
      for (const [id, x] of q) { const y = doc.get(id); if (y !== undefined) dot += x * y; }
      return 1 - dot;
    });
  }
}

/** L2 distances between one vector and every row of `items`. */
export function l2Distances(q: Float32Array, items: Vectors): Float64Array {
  if (q.length !== items.d) throw new Error(`l2Distances: query has ${q.length} dimensions, items ${items.d}`);
  const out = new Float64Array(items.n);
  for (let i = 0; i < items.n; i++) {
    let s = 0;
    for (let k = 0; k < items.d; k++) { const x = q[k] - items.data[i * items.d + k]; s += x * x; }
    out[i] = Math.sqrt(s);
  }
  return out;
}

/** (x - min) / (max - min) over the entries where `keep` is true (all when absent); a constant array maps to 0. */
export function minMax(x: ArrayLike<number>, keep?: (i: number) => boolean): Float64Array {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < x.length; i++) if (!keep || keep(i)) { lo = Math.min(lo, x[i]); hi = Math.max(hi, x[i]); }
  const span = hi - lo;
  return Float64Array.from({ length: x.length }, (_, i) => (span > 0 && Number.isFinite(span) ? (x[i] - lo) / span : 0));
}

/**
 * Grounding scores (higher is better) of items 1..n from their distances to
 * the generated text (index 0 = padding, ignored): -D^ / (1 + P^)^gPop /
 * (1 + S^)^gCollab. `popularity` and `collab` are raw (normalised here over
 * items 1..n); either may be absent (its gamma then ignored).
 */
export function groundedScores(distances: ArrayLike<number>, o: { popularity?: ArrayLike<number>; popGamma?: number; collab?: ArrayLike<number>; collabGamma?: number }): Float32Array {
  const n = distances.length;
  const real = (i: number) => i > 0;
  const D = minMax(distances, real);
  const P = o.popularity && (o.popGamma ?? 0) > 0 ? minMax(o.popularity, real) : null;
  const S = o.collab && (o.collabGamma ?? 0) > 0 ? minMax(o.collab, real) : null;
  const out = new Float32Array(n);
  out[0] = -Infinity;
  for (let i = 1; i < n; i++) {
    let d = D[i];
    if (P) d /= Math.pow(1 + P[i], o.popGamma!);
    if (S) d /= Math.pow(1 + S[i], o.collabGamma!);
    out[i] = -d;
  }
  return out;
}
