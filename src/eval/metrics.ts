/**
 * Evaluation metrics (docs/METHODS.md §2), as pure functions on plain arrays.
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
 * Lessons from other projects' issue trackers (the resulting rules are in
 * docs/METHODS.md §2.1): the metric path is tested on its own against
 * hand-computed values (Transformers4Rec #700/#719: Recall@1 > Recall@5,
 * metric != numpy), and per-user AUC needs a guard for users without
 * negatives (CoLLM's UAUC became NaN) — here aucOne returns NaN for N = 0 and
 * MetricAccumulator leaves such users out of the AUC mean.
 *
 * The metrics live in one module per kind under ./metrics/; this module
 * re-exports all of them (import from here).
 */
export * from './metrics/ranking.js';
export * from './metrics/rating.js';
export * from './metrics/text.js';
export * from './metrics/diversity.js';
export * from './metrics/distribution.js';
