/**
 * Paired significance of a difference between two models evaluated on the
 * same users and the same candidates (docs/METHODS.md §2.6). The inputs are
 * per-user metric values a[i] and b[i] of the same user i (metrics/ranking.ts
 * `perUserMetric`); the differences are d[i] = a[i] - b[i].
 *
 *  - p-value: the two-sided paired randomization (sign-flip) test. Under H0
 *    "for every user the two models' values are exchangeable" each d[i] is
 *    +|d[i]| or -|d[i]| with probability 1/2, and p is the share of the 2^n
 *    sign assignments s with |sum s[i] d[i]| >= |sum d[i]|. Users with
 *    d[i] = 0 do not change the sum under any flip, so only the non-zero
 *    differences are enumerated: exactly when there are at most `exactUpTo`
 *    of them (default 16), otherwise with `resamples` seeded random
 *    assignments and p = (1 + hits) / (1 + resamples), which never reports 0
 *    for a finite sample (Phipson and Smyth 2010). This is the test
 *    Smucker, Allan and Carterette (CIKM 2007) recommend for comparing
 *    rankers over the same queries; it assumes nothing about the
 *    distribution of d, which for 1 + 9 candidates is far from normal.
 *  - ci95: the percentile bootstrap of the mean difference: `resamples`
 *    seeded draws of n users with replacement, the 2.5 % and 97.5 %
 *    quantiles (linear interpolation between order statistics) of their
 *    mean differences.
 *
 * Pairs where either value is NaN (a user without negatives has no AUC) are
 * left out and counted in `dropped`. Deterministic for a given seed.
 */
import { Mulberry32 } from '../util/random.js';

export interface PairedTestOptions {
  /** Random sign assignments and bootstrap draws (default 10,000). */
  resamples?: number;
  /** Seed of both (default 0). */
  seed?: number;
  /** Enumerate every sign assignment when at most this many differences are non-zero (default 16, at most 24). */
  exactUpTo?: number;
}

export interface PairedTest {
  /** Pairs used (both values finite or infinite, neither NaN). */
  n: number;
  /** Pairs left out because a value was NaN. */
  dropped: number;
  meanA: number;
  meanB: number;
  /** meanA - meanB. */
  meanDiff: number;
  /** 95 % percentile-bootstrap interval of the mean difference. */
  ci95: [number, number];
  /** Two-sided p-value of the paired sign-flip test. */
  pValue: number;
  /** 'exact': every sign assignment enumerated; 'sampled': `resamples` random ones. */
  method: 'exact' | 'sampled';
  resamples: number;
  seed: number;
}

const DEFAULT_RESAMPLES = 10_000;
const DEFAULT_EXACT = 16;
const MAX_EXACT = 24;

/** The paired sign-flip test and bootstrap interval of mean(a) - mean(b) (see the module comment). */
export function pairedTest(a: ArrayLike<number>, b: ArrayLike<number>, o: PairedTestOptions = {}): PairedTest {
  if (a.length !== b.length) throw new Error(`pairedTest: the two samples must pair the same users, got ${a.length} and ${b.length} values`);
  const resamples = o.resamples ?? DEFAULT_RESAMPLES;
  const seed = o.seed ?? 0;
  const exactUpTo = o.exactUpTo ?? DEFAULT_EXACT;
  if (!Number.isInteger(resamples) || resamples < 1) throw new Error(`pairedTest: resamples must be a positive integer, got ${resamples}`);
  if (!Number.isInteger(exactUpTo) || exactUpTo < 0 || exactUpTo > MAX_EXACT) throw new Error(`pairedTest: exactUpTo must be an integer in 0..${MAX_EXACT}, got ${exactUpTo}`);
  if (!Number.isInteger(seed)) throw new Error(`pairedTest: seed must be an integer, got ${seed}`);
  const va: number[] = [];
  const vb: number[] = [];
  for (let i = 0; i < a.length; i++) {
    if (Number.isNaN(a[i]) || Number.isNaN(b[i])) continue;
    va.push(a[i]);
    vb.push(b[i]);
  }
  const n = va.length;
  if (n === 0) throw new Error(`pairedTest: no pair without NaN among ${a.length}`);
  const d = va.map((x, i) => x - vb[i]);
  if (d.some((x) => !Number.isFinite(x))) throw new Error('pairedTest: a difference is infinite (an infinite metric value)');
  const mean = (v: readonly number[]) => v.reduce((s, x) => s + x, 0) / v.length;
  const meanDiff = mean(d);
  const nz = d.filter((x) => x !== 0);
  const rng = new Mulberry32(seed);
  let pValue: number;
  let method: PairedTest['method'];
  if (nz.length === 0) {
    pValue = 1;
    method = 'exact';
  } else if (nz.length <= exactUpTo) {
    pValue = exactSignFlip(nz);
    method = 'exact';
  } else {
    pValue = sampledSignFlip(nz, resamples, rng);
    method = 'sampled';
  }
  return { n, dropped: a.length - n, meanA: mean(va), meanB: mean(vb), meanDiff, ci95: bootstrapInterval(d, resamples, rng), pValue, method, resamples, seed };
}

/** |s| >= |t| up to the rounding of sums of the same terms in another order. */
function atLeast(s: number, t: number, scale: number): boolean {
  return Math.abs(s) >= Math.abs(t) - 1e-9 * scale;
}

function exactSignFlip(d: readonly number[]): number {
  const m = d.length;
  const t = d.reduce((s, x) => s + x, 0);
  const scale = d.reduce((s, x) => s + Math.abs(x), 0);
  let hits = 0;
  const total = 2 ** m;
  for (let mask = 0; mask < total; mask++) {
    let s = 0;
    for (let i = 0; i < m; i++) s += mask & (1 << i) ? -d[i] : d[i];
    if (atLeast(s, t, scale)) hits++;
  }
  return hits / total;
}

function sampledSignFlip(d: readonly number[], resamples: number, rng: Mulberry32): number {
  const t = d.reduce((s, x) => s + x, 0);
  const scale = d.reduce((s, x) => s + Math.abs(x), 0);
  let hits = 0;
  for (let r = 0; r < resamples; r++) {
    let s = 0;
    let bits = 0;
    for (let i = 0; i < d.length; i++) {
      if (i % 32 === 0) bits = rng.uint32();
      s += bits & (1 << (i % 32)) ? -d[i] : d[i];
    }
    if (atLeast(s, t, scale)) hits++;
  }
  return (1 + hits) / (1 + resamples);
}

/** Quantile q of sorted values, linear interpolation between order statistics (R's type 7). */
export function quantileSorted(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) throw new Error('quantileSorted: no values');
  if (!(q >= 0 && q <= 1)) throw new Error(`quantileSorted: q must be in [0, 1], got ${q}`);
  const h = (sorted.length - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo] + (h - lo) * (sorted[hi] - sorted[lo]);
}

function bootstrapInterval(d: readonly number[], resamples: number, rng: Mulberry32): [number, number] {
  const n = d.length;
  const means = new Float64Array(resamples);
  for (let r = 0; r < resamples; r++) {
    let s = 0;
    for (let i = 0; i < n; i++) s += d[Math.floor(rng.next() * n)];
    means[r] = s / n;
  }
  means.sort();
  return [quantileSorted(means, 0.025), quantileSorted(means, 0.975)];
}
