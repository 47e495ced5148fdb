/**
 * Ranking metrics for one positive per list (docs/METHODS.md §2): pessimistic
 * ranks, HR@k, NDCG@k, MRR@k, per-list AUC, their running means over users,
 * and the expectation of a uniformly random ranker. Ties and NaN scores are
 * pessimistic; see the comment of ../metrics.ts for the exact policy.
 */
import type { MetricValues } from '../types.js';

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
 * One evaluation's values per user, in the order of its users: the user id,
 * the target's pessimistic rank and its AUC (NaN for a user without
 * negatives). What the paired tests of ../significance.ts compare.
 */
export interface PerUserRanking {
  users: number[];
  rank: number[];
  auc: number[];
}

/**
 * Per-user values of one metric ('auc', 'hr@k', 'ndcg@k', 'mrr@k'); their
 * mean is MetricAccumulator's (for 'auc' over the users whose AUC is not NaN).
 */
export function perUserMetric(p: Pick<PerUserRanking, 'rank' | 'auc'>, metric: string): number[] {
  if (metric === 'auc') return [...p.auc];
  const m = /^(hr|ndcg|mrr)@(\d+)$/.exec(metric);
  if (!m) throw new Error(`perUserMetric: unknown metric '${metric}' (auc, hr@k, ndcg@k, mrr@k)`);
  const k = Number(m[2]);
  checkKs([k]);
  const f = m[1] === 'hr' ? hitAt : m[1] === 'ndcg' ? ndcgAt : mrrAt;
  return p.rank.map((r) => f(r, k));
}

/** Whether two per-user evaluations are over the same users in the same order (what a paired test needs). */
export function sameUsers(a: readonly unknown[], b: readonly unknown[]): boolean {
  return a.length === b.length && a.every((u, i) => u === b[i]);
}

/**
 * A per-user ranking read back from JSON (where NaN is written as null):
 * users, a rank in 1.. and an AUC in [0, 1] or null for each (null read as
 * NaN); with `users`, exactly those users in that order. Null when it is not.
 */
export function perUserFromJson(v: unknown, users?: readonly number[]): PerUserRanking | null {
  const q = v as Partial<Record<keyof PerUserRanking, unknown[]>> | null;
  if (!q || typeof q !== 'object' || !Array.isArray(q.users) || !Array.isArray(q.rank) || !Array.isArray(q.auc)) return null;
  const n = q.users.length;
  if (q.rank.length !== n || q.auc.length !== n || (users && !sameUsers(q.users, users))) return null;
  if (!q.users.every((u) => Number.isInteger(u)) || !q.rank.every((r) => Number.isInteger(r) && (r as number) >= 1)) return null;
  if (!q.auc.every((a) => a === null || (typeof a === 'number' && a >= 0 && a <= 1))) return null;
  return { users: q.users as number[], rank: q.rank as number[], auc: q.auc.map((a) => (a === null ? NaN : (a as number))) };
}

/** The metric means of per-user values: what MetricAccumulator (and so evaluateRecommender, without 'count') reports for them. */
export function metricsOfPerUser(p: Pick<PerUserRanking, 'rank' | 'auc'>, ks: readonly number[]): MetricValues {
  if (p.rank.length !== p.auc.length) throw new Error(`metricsOfPerUser: ${p.rank.length} ranks but ${p.auc.length} AUC values`);
  const acc = new MetricAccumulator(ks);
  for (let i = 0; i < p.rank.length; i++) acc.add(p.rank[i], p.auc[i]);
  return acc.result();
}

/** Per-user rank and AUC of candidate lists of C scores each, the target first in every list (users: their ids, in list order). */
export function perUserRanking(scores: ArrayLike<number>, C: number, users: readonly number[]): PerUserRanking {
  if (!Number.isInteger(C) || C < 1) throw new Error(`perUserRanking: C must be a positive integer, got ${C}`);
  if (scores.length !== users.length * C) throw new Error(`perUserRanking: ${scores.length} scores for ${users.length} users x ${C} candidates`);
  const out: PerUserRanking = { users: [...users], rank: [], auc: [] };
  const counts = new Float64Array(3);
  for (let u = 0; u < users.length; u++) {
    compareToTarget(scores, u * C, C, 0, counts);
    out.rank.push(1 + counts[0]);
    out.auc.push(C > 1 ? (counts[1] + 0.5 * counts[2]) / (C - 1) : NaN);
  }
  return out;
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
