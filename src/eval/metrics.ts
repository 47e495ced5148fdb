/**
 * Evaluation metrics (spec section 2), as pure functions on plain arrays.
 *
 * Ranking (one positive per list):
 *   rank p        = 1 + #(other candidates whose score is NOT strictly below the target's)
 *   HR@k          = [p <= k]
 *   NDCG@k        = 1 / log2(p + 1)  if p <= k else 0
 *   MRR@k         = 1 / p            if p <= k else 0
 *   AUC (1 vs N)  = (#negatives strictly below + 0.5 * #ties) / N
 *
 * Ties are PESSIMISTIC: the positive goes below every tied candidate, so a
 * constant scorer gets the worst rank C (and AUC 0.5, ties counting one half).
 *
 * NaN policy (always pessimistic, never a NaN rank): every comparison with a
 * NaN score counts AGAINST the target. A NaN target score therefore gets the
 * worst rank C and AUC 0; a NaN score of another candidate counts as "at least
 * as good as the target" (it raises the rank by one and adds 0 to AUC). Only the
 * comparison `other < target` helps the target, and it is false whenever
 * either side is NaN. Infinite scores compare as usual (-Infinity ties -Infinity).
 *
 * Other metrics: RMSE and MAE for ratings; BLEU-n (brevity penalty, corpus and
 * sentence level) and ROUGE-1/2/L F1 on token arrays; catalogue coverage and
 * intra-list diversity of top-k lists; and the distribution distances of
 * GANPrompt (cosine, KL, JS, TV over softmax distributions, and the combined
 * diversity distance Dist(a, b) = alpha * (1 - cos) + beta * JS).
 *
 * Lessons from other projects (shared/research/anchors.md): the metric path is
 * tested on its own against hand-computed values (Transformers4Rec #700/#719:
 * Recall@1 > Recall@5, metric != numpy), and per-user AUC needs a guard for
 * users without negatives (CoLLM's UAUC became NaN) — here aucOne returns NaN
 * for N = 0 and MetricAccumulator leaves such users out of the AUC mean.
 */
import type { MetricValues } from './types.js';

// ---------------------------------------------------------------------------
// Ranking

/** Validates the cut-offs: positive integers. */
export function checkKs(ks: readonly number[]): void {
  if (ks.length === 0) throw new Error('metrics: ks must not be empty');
  for (const k of ks) {
    if (!Number.isInteger(k) || k < 1) throw new Error(`metrics: cut-off k must be a positive integer, got ${k}`);
  }
}

/**
 * Compares one target against the other candidates of scores[offset .. offset + length)
 * in a single pass, without allocation. The target is scores[offset + targetIndex].
 * Writes into `out`: out[0] = #others not strictly below (rank - 1),
 * out[1] = #others strictly below, out[2] = #others exactly tied (both non-NaN).
 * out[0] includes the ties and the NaN comparisons (pessimistic).
 */
export function compareToTarget(
  scores: ArrayLike<number>,
  offset: number,
  length: number,
  targetIndex: number,
  out: Int32Array | Float64Array,
): void {
  const s = scores[offset + targetIndex];
  let notBelow = 0;
  let below = 0;
  let ties = 0;
  const end = offset + length;
  const t = offset + targetIndex;
  for (let i = offset; i < end; i++) {
    if (i === t) continue;
    const v = scores[i];
    if (v < s) below++;
    else {
      notBelow++;
      if (v === s) ties++;
    }
  }
  out[0] = notBelow;
  out[1] = below;
  out[2] = ties;
}

function checkTarget(n: number, targetIndex: number): void {
  if (!Number.isInteger(targetIndex) || targetIndex < 0 || targetIndex >= n) {
    throw new RangeError(`metrics: target index ${targetIndex} outside [0, ${n})`);
  }
}

const scratch = new Float64Array(3);

/**
 * 1-based rank of scores[targetIndex] among all of `scores`, pessimistic ties:
 * rank = 1 + #(others with score >= target score), NaN comparisons counted
 * against the target (see the file comment). Never NaN; in [1, scores.length].
 */
export function rankOfTarget(scores: ArrayLike<number>, targetIndex: number): number {
  checkTarget(scores.length, targetIndex);
  compareToTarget(scores, 0, scores.length, targetIndex, scratch);
  return 1 + scratch[0];
}

/** HR@k: 1 if rank <= k else 0. */
export function hitAt(rank: number, k: number): number {
  return rank <= k ? 1 : 0;
}

/** NDCG@k for a single positive: 1 / log2(rank + 1) if rank <= k else 0. */
export function ndcgAt(rank: number, k: number): number {
  return rank <= k ? 1 / Math.log2(rank + 1) : 0;
}

/** MRR@k: 1 / rank if rank <= k else 0. */
export function mrrAt(rank: number, k: number): number {
  return rank <= k ? 1 / rank : 0;
}

/**
 * Per-list AUC of one positive against the N = scores.length - 1 other candidates:
 * (#below + 0.5 * #ties) / N. NaN comparisons count as losses (0). Returns NaN
 * only when there is no negative (N = 0): the caller must skip such lists.
 */
export function aucOne(scores: ArrayLike<number>, targetIndex: number): number {
  checkTarget(scores.length, targetIndex);
  const n = scores.length - 1;
  if (n === 0) return NaN;
  compareToTarget(scores, 0, scores.length, targetIndex, scratch);
  return (scratch[1] + 0.5 * scratch[2]) / n;
}

/**
 * Running means of ranking metrics over users. add(rank, auc) per user;
 * result() gives 'auc', 'hr@k', 'ndcg@k', 'mrr@k' for every k (means over the
 * users added). Users whose AUC is NaN/undefined (no negatives) are left out
 * of the AUC mean only; 'auc' is absent when no user had one.
 */
export class MetricAccumulator {
  readonly ks: readonly number[];
  private readonly hr: Float64Array;
  private readonly ndcg: Float64Array;
  private readonly mrr: Float64Array;
  private aucSum = 0;
  private aucN = 0;
  private n = 0;

  constructor(ks: readonly number[]) {
    checkKs(ks);
    this.ks = [...ks];
    this.hr = new Float64Array(ks.length);
    this.ndcg = new Float64Array(ks.length);
    this.mrr = new Float64Array(ks.length);
  }

  /** Number of users added. */
  get count(): number {
    return this.n;
  }

  /** Number of users that contributed to the AUC mean. */
  get aucCount(): number {
    return this.aucN;
  }

  add(rank: number, auc?: number): void {
    if (!(rank >= 1) || !Number.isFinite(rank)) throw new RangeError(`MetricAccumulator: invalid rank ${rank}`);
    const ks = this.ks;
    for (let j = 0; j < ks.length; j++) {
      const k = ks[j];
      if (rank <= k) {
        this.hr[j] += 1;
        this.ndcg[j] += 1 / Math.log2(rank + 1);
        this.mrr[j] += 1 / rank;
      }
    }
    this.n++;
    if (auc !== undefined && !Number.isNaN(auc)) {
      this.aucSum += auc;
      this.aucN++;
    }
  }

  result(): MetricValues {
    const out: MetricValues = {};
    if (this.aucN > 0) out.auc = this.aucSum / this.aucN;
    const d = this.n > 0 ? this.n : 1;
    for (let j = 0; j < this.ks.length; j++) {
      const k = this.ks[j];
      out[`hr@${k}`] = this.hr[j] / d;
      out[`ndcg@${k}`] = this.ndcg[j] / d;
      out[`mrr@${k}`] = this.mrr[j] / d;
    }
    return out;
  }
}

/**
 * Expected metrics of a uniformly random ranker with C candidates (sampled
 * protocol, continuous scores, so the rank is uniform on 1..C):
 *   HR@k = min(k, C) / C
 *   NDCG@k = (1 / C) * sum_{p=1}^{min(k,C)} 1 / log2(p + 1)
 *   MRR@k = (1 / C) * sum_{p=1}^{min(k,C)} 1 / p   (= H_min(k,C) / C)
 *   AUC = 0.5
 * For sanity rows in reports (a trained model must beat these).
 */
export function randomRankerExpectation(C: number, ks: readonly number[]): MetricValues {
  if (!Number.isInteger(C) || C < 1) throw new Error(`randomRankerExpectation: C must be a positive integer, got ${C}`);
  checkKs(ks);
  const out: MetricValues = { auc: 0.5 };
  for (const k of ks) {
    const m = Math.min(k, C);
    let nd = 0;
    let rr = 0;
    for (let p = 1; p <= m; p++) {
      nd += 1 / Math.log2(p + 1);
      rr += 1 / p;
    }
    out[`hr@${k}`] = m / C;
    out[`ndcg@${k}`] = nd / C;
    out[`mrr@${k}`] = rr / C;
  }
  return out;
}

// ---------------------------------------------------------------------------
// Rating prediction

function checkPair(a: ArrayLike<number>, b: ArrayLike<number>, what: string): void {
  if (a.length !== b.length) throw new Error(`${what}: length mismatch ${a.length} vs ${b.length}`);
  if (a.length === 0) throw new Error(`${what}: empty input`);
}

/** Root mean squared error: sqrt(mean((pred - truth)^2)). */
export function rmse(pred: ArrayLike<number>, truth: ArrayLike<number>): number {
  checkPair(pred, truth, 'rmse');
  let s = 0;
  for (let i = 0; i < pred.length; i++) {
    const d = pred[i] - truth[i];
    s += d * d;
  }
  return Math.sqrt(s / pred.length);
}

/** Mean absolute error: mean(|pred - truth|). */
export function mae(pred: ArrayLike<number>, truth: ArrayLike<number>): number {
  checkPair(pred, truth, 'mae');
  let s = 0;
  for (let i = 0; i < pred.length; i++) s += Math.abs(pred[i] - truth[i]);
  return s / pred.length;
}

// ---------------------------------------------------------------------------
// Generated text (token arrays)

type Tokens = readonly string[];

/** n-gram counts of a token array (key: tokens joined by U+0001). */
function ngramCounts(tokens: Tokens, n: number): Map<string, number> {
  const m = new Map<string, number>();
  for (let i = 0; i + n <= tokens.length; i++) {
    const key = tokens.slice(i, i + n).join('\u0001');
    m.set(key, (m.get(key) ?? 0) + 1);
  }
  return m;
}

/**
 * BLEU smoothing: 'none' = Papineni et al. (any zero n-gram precision gives
 * BLEU 0); 'add1' = Lin & Och (2004) "BLEU+1": for n >= 2 the precision is
 * (matches + 1) / (candidate n-grams + 1); unigram precision is never smoothed.
 */
export type BleuSmoothing = 'none' | 'add1';

export interface BleuOptions {
  /** Highest n-gram order N (uniform weights 1/N). Default 4. */
  maxN?: number;
  /** Default: 'add1' for sentenceBleu, 'none' for corpusBleu. */
  smoothing?: BleuSmoothing;
}

/**
 * Corpus BLEU-N (Papineni et al. 2002): clipped n-gram matches and candidate
 * n-gram totals summed over the corpus, geometric mean of the N precisions
 * with weights 1/N, times the brevity penalty BP = 1 if c > r else exp(1 - r/c),
 * c = total candidate length, r = sum of the reference lengths closest to each
 * candidate's length (ties: the shorter one). Clipping uses the maximum count
 * of an n-gram over a candidate's references. Result in [0, 1].
 */
export function corpusBleu(candidates: readonly Tokens[], references: readonly (readonly Tokens[])[], opts: BleuOptions = {}): number {
  const maxN = opts.maxN ?? 4;
  const smoothing = opts.smoothing ?? 'none';
  if (!Number.isInteger(maxN) || maxN < 1) throw new Error(`bleu: maxN must be a positive integer, got ${maxN}`);
  if (candidates.length !== references.length) {
    throw new Error(`bleu: ${candidates.length} candidates but ${references.length} reference sets`);
  }
  const matches = new Float64Array(maxN);
  const totals = new Float64Array(maxN);
  let c = 0;
  let r = 0;
  for (let s = 0; s < candidates.length; s++) {
    const cand = candidates[s];
    const refs = references[s];
    if (refs.length === 0) throw new Error(`bleu: candidate ${s} has no reference`);
    c += cand.length;
    let best = refs[0].length;
    for (const ref of refs) {
      const d = Math.abs(ref.length - cand.length);
      const bd = Math.abs(best - cand.length);
      if (d < bd || (d === bd && ref.length < best)) best = ref.length;
    }
    r += best;
    for (let n = 1; n <= maxN; n++) {
      const cc = ngramCounts(cand, n);
      const maxRef = new Map<string, number>();
      for (const ref of refs) {
        for (const [g, k] of ngramCounts(ref, n)) maxRef.set(g, Math.max(maxRef.get(g) ?? 0, k));
      }
      for (const [g, k] of cc) {
        matches[n - 1] += Math.min(k, maxRef.get(g) ?? 0);
        totals[n - 1] += k;
      }
    }
  }
  if (c === 0) return 0;
  let logSum = 0;
  for (let n = 1; n <= maxN; n++) {
    let m = matches[n - 1];
    let t = totals[n - 1];
    if (smoothing === 'add1' && n >= 2) {
      m += 1;
      t += 1;
    }
    if (m === 0 || t === 0) return 0;
    logSum += Math.log(m / t) / maxN;
  }
  const bp = c > r ? 1 : Math.exp(1 - r / c);
  return bp * Math.exp(logSum);
}

/** Sentence BLEU-N: corpusBleu over a one-sentence corpus; default smoothing 'add1' (BLEU+1). */
export function sentenceBleu(candidate: Tokens, references: readonly Tokens[], opts: BleuOptions = {}): number {
  return corpusBleu([candidate], [references], { maxN: opts.maxN ?? 4, smoothing: opts.smoothing ?? 'add1' });
}

export interface PRF {
  precision: number;
  recall: number;
  f1: number;
}

function prf(overlap: number, candN: number, refN: number): PRF {
  const precision = candN > 0 ? overlap / candN : 0;
  const recall = refN > 0 ? overlap / refN : 0;
  const f1 = precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
  return { precision, recall, f1 };
}

/**
 * ROUGE-N of a candidate against one reference: overlap = sum over n-grams of
 * min(count in candidate, count in reference); precision = overlap / #candidate
 * n-grams, recall = overlap / #reference n-grams, F1 their harmonic mean
 * (0 when both are 0, e.g. texts shorter than n).
 */
export function rougeN(candidate: Tokens, reference: Tokens, n: number): PRF {
  if (!Number.isInteger(n) || n < 1) throw new Error(`rougeN: n must be a positive integer, got ${n}`);
  const cc = ngramCounts(candidate, n);
  const rc = ngramCounts(reference, n);
  let overlap = 0;
  for (const [g, k] of cc) overlap += Math.min(k, rc.get(g) ?? 0);
  return prf(overlap, Math.max(0, candidate.length - n + 1), Math.max(0, reference.length - n + 1));
}

/** Length of the longest common subsequence of two token arrays (O(n m) time, O(m) memory). */
export function lcsLength(a: Tokens, b: Tokens): number {
  const prev = new Int32Array(b.length + 1);
  const cur = new Int32Array(b.length + 1);
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      cur[j] = a[i - 1] === b[j - 1] ? prev[j - 1] + 1 : Math.max(prev[j], cur[j - 1]);
    }
    prev.set(cur);
  }
  return prev[b.length];
}

/** ROUGE-L (sentence level, beta = 1): P = LCS / |candidate|, R = LCS / |reference|, F1. */
export function rougeL(candidate: Tokens, reference: Tokens): PRF {
  return prf(lcsLength(candidate, reference), candidate.length, reference.length);
}

/** ROUGE-1, ROUGE-2 and ROUGE-L F1 of one candidate against one reference. */
export function rouge(candidate: Tokens, reference: Tokens): { rouge1: number; rouge2: number; rougeL: number } {
  return {
    rouge1: rougeN(candidate, reference, 1).f1,
    rouge2: rougeN(candidate, reference, 2).f1,
    rougeL: rougeL(candidate, reference).f1,
  };
}

// ---------------------------------------------------------------------------
// Lists: coverage and intra-list diversity

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

// ---------------------------------------------------------------------------
// Distribution distances (GANPrompt, spec section 2): P = softmax(a), Q = softmax(b)

function checkVectors(a: ArrayLike<number>, b: ArrayLike<number>, what: string): void {
  checkPair(a, b, what);
}

/** cos(a, b) = a.b / (|a| |b|); 0 when either vector is zero. */
export function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  checkVectors(a, b, 'cosine');
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return na > 0 && nb > 0 ? dot / Math.sqrt(na * nb) : 0;
}

/** log-sum-exp, shifted by the maximum (stable). */
function logSumExp(a: ArrayLike<number>): number {
  let m = -Infinity;
  for (let i = 0; i < a.length; i++) if (a[i] > m) m = a[i];
  if (m === -Infinity) throw new Error('softmax: every entry is -Infinity');
  if (!Number.isFinite(m)) throw new Error(`softmax: non-finite entry ${m}`);
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.exp(a[i] - m);
  return m + Math.log(s);
}

/** log softmax(a) in float64 (stable: shifted by max(a)). */
export function logSoftmax(a: ArrayLike<number>): Float64Array {
  if (a.length === 0) throw new Error('softmax: empty input');
  const lse = logSumExp(a);
  const out = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] - lse;
  return out;
}

/** softmax(a) in float64 (stable: exp(a_i - max a) / sum). */
export function softmax(a: ArrayLike<number>): Float64Array {
  const out = logSoftmax(a);
  for (let i = 0; i < out.length; i++) out[i] = Math.exp(out[i]);
  return out;
}

/** KL between two distributions given by their log-probabilities: sum_j P_j (log P_j - log Q_j); 0 log 0 = 0. */
function klLog(lp: Float64Array, lq: Float64Array): number {
  let s = 0;
  for (let j = 0; j < lp.length; j++) {
    const p = Math.exp(lp[j]);
    if (p > 0) s += p * (lp[j] - lq[j]);
  }
  return Math.max(0, s);
}

/**
 * KL(P || Q) = sum_j P_j log(P_j / Q_j) with P = softmax(a), Q = softmax(b),
 * computed from log-softmax (no 0/0 or log 0 when probabilities underflow).
 */
export function klDivergence(a: ArrayLike<number>, b: ArrayLike<number>): number {
  checkVectors(a, b, 'klDivergence');
  return klLog(logSoftmax(a), logSoftmax(b));
}

/**
 * Jensen-Shannon divergence (natural log, bounded by ln 2):
 * JS = KL(P || M) / 2 + KL(Q || M) / 2, M = (P + Q) / 2, P = softmax(a), Q = softmax(b).
 */
export function jsDivergence(a: ArrayLike<number>, b: ArrayLike<number>): number {
  checkVectors(a, b, 'jsDivergence');
  const lp = logSoftmax(a);
  const lq = logSoftmax(b);
  const lm = new Float64Array(lp.length);
  for (let j = 0; j < lp.length; j++) {
    // log((e^x + e^y) / 2), stable
    const x = lp[j];
    const y = lq[j];
    const hi = Math.max(x, y);
    lm[j] = hi + Math.log1p(Math.exp(Math.min(x, y) - hi)) - Math.LN2;
  }
  return Math.min(Math.LN2, 0.5 * klLog(lp, lm) + 0.5 * klLog(lq, lm));
}

/** Total variation distance: sum_j |P_j - Q_j| / 2 with P = softmax(a), Q = softmax(b); in [0, 1]. */
export function tvDistance(a: ArrayLike<number>, b: ArrayLike<number>): number {
  checkVectors(a, b, 'tvDistance');
  const p = softmax(a);
  const q = softmax(b);
  let s = 0;
  for (let j = 0; j < p.length; j++) s += Math.abs(p[j] - q[j]);
  return s / 2;
}

/** GANPrompt's combined diversity distance: alpha * (1 - cos(a, b)) + beta * JS(softmax a, softmax b). */
export function diversityDistance(a: ArrayLike<number>, b: ArrayLike<number>, alpha = 1, beta = 1): number {
  let d = 0;
  if (alpha !== 0) d += alpha * (1 - cosine(a, b));
  if (beta !== 0) d += beta * jsDivergence(a, b);
  return d;
}
