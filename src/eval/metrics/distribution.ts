/**
 * Distribution distances (GANPrompt, docs/METHODS.md §2.5): P = softmax(a),
 * Q = softmax(b); cosine, KL, JS, TV and the combined diversity distance.
 */
import { checkPair } from './check.js';

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
