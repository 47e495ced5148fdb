/** Measurements and reconstruction of GANPrompt stage 1 (methods/ganprompt/diversity.ts). */
import { cosine, diversityDistance, jsDivergence, klDivergence, tvDistance } from '../../../eval/metrics.js';
import { DiversityAbortError } from '../attributes.js';
import { encodeBatch, encodeZ, type Generator } from './generator.js';

export interface DistanceMeasures {
  /** Mean KL(P_a || Q_b) over pairs a < b (held-out order) of different classes. */
  kl: number;
  tv: number;
  js: number;
  /** Mean cosine similarity (lower = more diverse). */
  cos: number;
  /** Mean Dist = alpha (1 - cos) + beta JS with the options' alpha, beta. */
  dist: number;
  pairs: number;
}

/** Mean pairwise distances between vectors of different classes (P = softmax(z); eval/metrics.ts functions). */
export function diversityMeasures(vectors: readonly ArrayLike<number>[], classes: ArrayLike<number>, alpha = 1, beta = 1): DistanceMeasures {
  if (vectors.length !== classes.length) throw new Error(`diversityMeasures: ${vectors.length} vectors but ${classes.length} classes`);
  const s = { kl: 0, tv: 0, js: 0, cos: 0, dist: 0 };
  let pairs = 0;
  for (let i = 0; i < vectors.length; i++) {
    for (let j = i + 1; j < vectors.length; j++) {
      if (classes[i] === classes[j]) continue;
      const a = vectors[i];
      const b = vectors[j];
      s.kl += klDivergence(a, b);
      s.tv += tvDistance(a, b);
      s.js += jsDivergence(a, b);
      s.cos += cosine(a, b);
      s.dist += diversityDistance(a, b, alpha, beta);
      pairs++;
    }
  }
  const m = (x: number) => (pairs > 0 ? x / pairs : NaN);
  return { kl: m(s.kl), tv: m(s.tv), js: m(s.js), cos: m(s.cos), dist: m(s.dist), pairs };
}

/** z of every text (batched, no dropout) as plain vectors. */
export function textVectors(gen: Generator, texts: readonly string[], maxTokens: number, batch = 64): Float32Array[] {
  const out: Float32Array[] = [];
  for (let s = 0; s < texts.length; s += batch) {
    const b = encodeBatch(gen, texts.slice(s, s + batch), maxTokens);
    const zz = encodeZ(gen, b, false);
    const vals = zz.dataSync() as Float32Array;
    const d = zz.shape[1];
    for (let r = 0; r < b.B; r++) out.push(vals.slice(r * d, (r + 1) * d));
    zz.dispose();
  }
  return out;
}

// ---------------------------------------------------------- reconstruction

export interface ReconstructOptions {
  /** Max input tokens per title (eos included; default 32). */
  inputTokens?: number;
  /** Titles per batch (default 128). */
  batch?: number;
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

/** Greedy decoding of each title from its encoder states: generated ids (eos removed), at most maxTokens each. */
export function reconstructIds(gen: Generator, titles: readonly string[], maxTokens = 20, opts: ReconstructOptions = {}): number[][] {
  const inputTokens = opts.inputTokens ?? 32;
  const batch = opts.batch ?? 128;
  const eos = gen.model.config.eos_token_id;
  // Titles of similar length share a batch (less padding); results go back in input order.
  const order = titles.map((t, i) => ({ i, n: t.length })).sort((a, b) => a.n - b.n || a.i - b.i).map((x) => x.i);
  const out: number[][] = new Array(titles.length);
  for (let s = 0; s < order.length; s += batch) {
    if (opts.signal?.aborted) throw new DiversityAbortError();
    const idx = order.slice(s, s + batch);
    const b = encodeBatch(gen, idx.map((i) => titles[i]), inputTokens);
    const gen2 = gen.model.generateGreedy({ inputIds: b.ids, batch: b.B, attentionMask: b.mask, maxNewTokens: maxTokens });
    idx.forEach((i, r) => { out[i] = gen2[r].filter((t) => t !== eos); });
    opts.onProgress?.(Math.min(order.length, s + batch), order.length);
  }
  return out;
}

/** d~_i = greedy decoding of the generator from the encoder states of d_i (max `maxTokens` new tokens), batched. */
export function reconstructTitles(gen: Generator, titles: readonly string[], maxTokens = 20, opts: ReconstructOptions = {}): string[] {
  return reconstructIds(gen, titles, maxTokens, opts).map((ids) => gen.tokenizer.decode(ids, { skipSpecialTokens: true }).replace(/\s+/g, ' ').trim());
}

/** reconstructed.json of a finished stage: item index -> reconstructed title. */
