/**
 * Generated-text metrics on token arrays: BLEU-N (corpus and sentence level,
 * brevity penalty, optional BLEU+1 smoothing) and ROUGE-1/2/L.
 */

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
