/**
 * The evaluator: ranks each user's held-out target (validation or test split)
 * with a Scorer's scores (types.ts; every Recommender of src/models is one)
 * and averages the metrics of docs/METHODS.md §2.
 *
 * Protocols (EvalOptions.protocol):
 *  - 'sampled': the candidates of a split row are [target, ...negatives of that
 *    row] (the negatives stored with the split, identical for every model);
 *    scores come from model.scoreCandidates in batches of users; the target's
 *    rank among the C = 1 + numNegatives candidates and its per-user AUC.
 *  - 'full': scores of every item from model.scoreAll. Item 0 (padding) is never
 *    a candidate. The user's known items are excluded — for 'valid' the train
 *    part data.trainSeqs[u]; for 'test' the train part plus the user's
 *    validation target data.valid.target — EXCEPT the target itself: when the
 *    target also occurs in the history (a repeat purchase / re-watch) it stays a
 *    candidate with its own score (excluding it would make the hit impossible).
 *    Excluded items are removed from the candidate set, which is the same as
 *    setting their score to -Infinity for any target score above -Infinity (and
 *    never lets them "tie" a -Infinity or NaN target). The model's score buffer is
 *    never modified. Rank: pessimistic ties; AUC: share of the remaining
 *    (non-excluded, non-target) items scored strictly below the target, ties 1/2.
 *
 * Ties and NaN scores are pessimistic everywhere (see metrics.ts). The result is
 * deterministic (fixed user order, float64 sums). The hot loop of 'full' is a
 * single pass over a Float32Array per user with an integer stamp array for the
 * exclusions (no per-item allocation), so 12,000 items x 22,000 users evaluate in
 * a few seconds once the model has produced its scores.
 */
import type { SplitDataset, EvalSplit, UserBatch } from '../data/types.js';
import type { EvalOptions, MetricValues, Scorer } from './types.js';
import { MetricAccumulator, checkKs, compareToTarget, randomRankerExpectation, type PerUserRanking } from './metrics.js';
import { yieldToEventLoop } from '../train/loop.js';

export { randomRankerExpectation };

/** Metric means plus the number of evaluated users ('count'). */
export type EvalResult = MetricValues & { count: number };

/** One row of a comparison (report.ts renders these). */
export interface EvalRow {
  model: string;
  metrics: MetricValues;
}

const DEFAULT_BATCH = 256;

/** The rows [start, end) of an evaluation split (or of another UserBatch) as a UserBatch (views, no copy). */
export function sliceSplit(split: Pick<EvalSplit, 'L' | 'user' | 'history'>, start: number, end: number): UserBatch {
  const L = split.L;
  return {
    size: end - start,
    L,
    user: split.user.subarray(start, end),
    history: split.history.subarray(start * L, end * L),
  };
}

function checkSplit(split: EvalSplit, which: string): void {
  if (split.user.length !== split.count || split.target.length !== split.count || split.history.length !== split.count * split.L) {
    throw new Error(
      `evaluate: malformed ${which} split (count ${split.count}, user ${split.user.length}, target ${split.target.length}, history ${split.history.length}, L ${split.L})`,
    );
  }
}

/**
 * Evaluates one model on the 'valid' or 'test' split of `data` with the given
 * protocol; returns 'auc', 'hr@k', 'ndcg@k', 'mrr@k' (means over users) and 'count'.
 */
export function evaluateRecommender(model: Scorer, data: SplitDataset, split: 'valid' | 'test', opts: EvalOptions): EvalResult {
  const acc = new MetricAccumulator(opts.ks);
  rankEach(model, data, split, opts, (_row, rank, auc) => acc.add(rank, auc));
  return { ...acc.result(), count: acc.count };
}

/**
 * evaluateRecommender that yields to the event loop after each batch of users
 * and gives null once `signal` is aborted (a Ctrl-C during a training's
 * validation then stops within one batch). The numbers are
 * evaluateRecommender's: both run the same per-batch generator.
 */
export async function evaluateRecommenderInterruptible(
  model: Scorer, data: SplitDataset, split: 'valid' | 'test', opts: EvalOptions, signal?: AbortSignal,
): Promise<EvalResult | null> {
  const acc = new MetricAccumulator(opts.ks);
  if (!await rankEachInterruptible(model, data, split, opts, (_row, rank, auc) => acc.add(rank, auc), signal)) return null;
  return { ...acc.result(), count: acc.count };
}

/**
 * The same evaluation, kept per user (in the order of the split's rows): the
 * target's rank and AUC of each user, for paired tests between models
 * (significance.ts). Their means are evaluateRecommender's metrics.
 */
export function evaluatePerUser(model: Scorer, data: SplitDataset, split: 'valid' | 'test', opts: EvalOptions): PerUserRanking {
  const out: PerUserRanking = { users: [], rank: [], auc: [] };
  rankEach(model, data, split, opts, perUserCollector(data[split], out));
  return out;
}

/** evaluatePerUser, interruptible as evaluateRecommenderInterruptible (null once `signal` is aborted). */
export async function evaluatePerUserInterruptible(
  model: Scorer, data: SplitDataset, split: 'valid' | 'test', opts: EvalOptions, signal?: AbortSignal,
): Promise<PerUserRanking | null> {
  const out: PerUserRanking = { users: [], rank: [], auc: [] };
  return await rankEachInterruptible(model, data, split, opts, perUserCollector(data[split], out), signal) ? out : null;
}

function perUserCollector(s: EvalSplit, out: PerUserRanking): PerRow {
  return (row, rank, auc) => {
    out.users.push(s.user[row]);
    out.rank.push(rank);
    out.auc.push(auc);
  };
}

/** Called once per row of the split, in order, with the target's rank and AUC (NaN: no other candidate). */
type PerRow = (row: number, rank: number, auc: number) => void;

function rankEach(model: Scorer, data: SplitDataset, split: 'valid' | 'test', opts: EvalOptions, each: PerRow): void {
  for (const _batch of rankBatches(model, data, split, opts, each)) { /* every batch, in order */ }
}

/** rankEach, yielding to the event loop after each batch of users; false (the ranking unfinished) once `signal` is aborted. */
async function rankEachInterruptible(model: Scorer, data: SplitDataset, split: 'valid' | 'test', opts: EvalOptions, each: PerRow, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted) return false;
  for (const _batch of rankBatches(model, data, split, opts, each)) {
    if (signal?.aborted) return false;
    await yieldToEventLoop();
    if (signal?.aborted) return false;
  }
  return true;
}

/** The ranking of rankEach, one batch of users per iteration (the checks run at the first one). */
function* rankBatches(model: Scorer, data: SplitDataset, split: 'valid' | 'test', opts: EvalOptions, each: PerRow): Generator<void, void, void> {
  if (split !== 'valid' && split !== 'test') throw new Error(`evaluate: split must be 'valid' or 'test', got ${String(split)}`);
  checkKs(opts.ks);
  const batchSize = opts.batchSize ?? DEFAULT_BATCH;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`evaluate: batchSize must be a positive integer, got ${batchSize}`);
  const s = data[split];
  checkSplit(s, split);
  if (s.count === 0) throw new Error(`evaluate: the ${split} split of ${data.name} is empty`);
  if (opts.protocol === 'sampled') yield* evalSampled(model, s, split, batchSize, each);
  else if (opts.protocol === 'full') yield* evalFull(model, data, s, split, batchSize, each);
  else throw new Error(`evaluate: unknown protocol ${String(opts.protocol)}`);
}

function* evalSampled(model: Scorer, s: EvalSplit, which: string, batchSize: number, each: PerRow): Generator<void, void, void> {
  const neg = s.numNegatives;
  if (!(neg >= 1) || s.negatives.length !== s.count * neg) {
    throw new Error(
      `evaluate: the sampled protocol needs stored negatives, but the ${which} split has numNegatives ${neg} (${s.negatives.length} stored); use protocol 'full'`,
    );
  }
  const C = neg + 1;
  const candBuf = new Int32Array(Math.min(batchSize, s.count) * C);
  const counts = new Float64Array(3);
  for (let start = 0; start < s.count; start += batchSize) {
    const end = Math.min(start + batchSize, s.count);
    const size = end - start;
    const cands = candBuf.subarray(0, size * C);
    for (let b = 0; b < size; b++) {
      const r = start + b;
      cands[b * C] = s.target[r];
      cands.set(s.negatives.subarray(r * neg, (r + 1) * neg), b * C + 1);
    }
    const scores = model.scoreCandidates(sliceSplit(s, start, end), cands, C);
    if (scores.length !== size * C) {
      throw new Error(`evaluate: ${model.name}.scoreCandidates returned ${scores.length} scores, expected ${size} x ${C}`);
    }
    for (let b = 0; b < size; b++) {
      compareToTarget(scores, b * C, C, 0, counts);
      each(start + b, 1 + counts[0], (counts[1] + 0.5 * counts[2]) / neg);
    }
    yield;
  }
}

function* evalFull(model: Scorer, data: SplitDataset, s: EvalSplit, which: 'valid' | 'test', batchSize: number, each: PerRow): Generator<void, void, void> {
  const n = data.numItems;
  const W = n + 1;
  // user -> row of the validation split (test excludes the validation target too)
  let validRow: Int32Array | null = null;
  if (which === 'test') {
    validRow = new Int32Array(data.numUsers).fill(-1);
    const v = data.valid;
    for (let r = 0; r < v.count; r++) {
      const u = v.user[r];
      if (u >= 0 && u < data.numUsers) validRow[u] = r;
    }
  }
  const stamp = new Int32Array(W);
  for (let start = 0; start < s.count; start += batchSize) {
    const end = Math.min(start + batchSize, s.count);
    const size = end - start;
    const scores = model.scoreAll(sliceSplit(s, start, end));
    if (scores.length !== size * W) {
      throw new Error(`evaluate: ${model.name}.scoreAll returned ${scores.length} scores, expected ${size} x (${n} + 1)`);
    }
    for (let b = 0; b < size; b++) {
      const r = start + b;
      const u = s.user[r];
      const t = s.target[r];
      if (!(t >= 1 && t <= n)) throw new Error(`evaluate: ${which} target ${t} of row ${r} outside 1..${n}`);
      const mark = r + 1; // unique per row: no clearing of the stamp array needed
      const train = data.trainSeqs[u];
      if (train !== undefined) {
        for (let i = 0; i < train.length; i++) stamp[train[i]] = mark;
      }
      if (validRow !== null && u >= 0 && u < validRow.length && validRow[u] >= 0) stamp[data.valid.target[validRow[u]]] = mark;
      stamp[t] = 0; // the target is always a candidate, even if it is also in the history
      const res = rankFull(scores, b * W, W, t, stamp, mark);
      const rank = 1 + res.notBelow;
      each(r, rank, res.others > 0 ? (res.below + 0.5 * res.ties) / res.others : NaN);
    }
    yield;
  }
}

const fullOut = { notBelow: 0, below: 0, ties: 0, others: 0 };

/**
 * One user's full-ranking pass over scores[off .. off + W): items i with
 * stamp[i] === mark are excluded, the target t is compared with the rest.
 * Kept monomorphic on Float32Array (the hot loop).
 */
function rankFull(scores: Float32Array, off: number, W: number, t: number, stamp: Int32Array, mark: number): typeof fullOut {
  const st = scores[off + t];
  let notBelow = 0;
  let below = 0;
  let ties = 0;
  let others = 0;
  for (let i = 1; i < W; i++) {
    // i starts at 1: padding is never a candidate
    if (stamp[i] === mark || i === t) continue;
    others++;
    const v = scores[off + i];
    if (v < st) below++;
    else {
      notBelow++;
      if (v === st) ties++;
    }
  }
  fullOut.notBelow = notBelow;
  fullOut.below = below;
  fullOut.ties = ties;
  fullOut.others = others;
  return fullOut;
}

/** Evaluates several models on the same split and protocol; one row per model (row.model = model.name). */
export function evaluateAll(models: readonly Scorer[], data: SplitDataset, split: 'valid' | 'test', opts: EvalOptions): EvalRow[] {
  return models.map((m) => ({ model: m.name, metrics: evaluateRecommender(m, data, split, opts) }));
}
