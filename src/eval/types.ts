/**
 * Contracts of the evaluation layer (implemented in evaluate.ts / metrics.ts).
 *
 * Metric names are lower-case strings: 'auc', 'hr@k', 'ndcg@k', 'mrr@k'
 * (k from EvalOptions.ks). Values are means over the evaluated users.
 */
import type { UserBatch } from '../data/types.js';

export type MetricValues = Record<string, number>;

export interface EvalOptions {
  /** 'sampled': the target ranked against the split's stored negatives; 'full': against every item, history excluded. */
  protocol: 'sampled' | 'full';
  /** Cut-offs for hr/ndcg/mrr, e.g. [1, 3, 5] or [10, 20]. */
  ks: number[];
  /** Users per scoring batch (default 256). */
  batchSize?: number;
}

/**
 * What the evaluator needs from a model: its name and its scores. Every
 * Recommender (src/models/types.ts) is a Scorer; so is any object with these
 * three members (e.g. an LLM recommender that scores candidates), without
 * eval/ depending on models/.
 */
export interface Scorer {
  /** Row label in reports and error messages. */
  readonly name: string;
  /** Scores of candidates [size * C] for each user of the batch: [size * C]. Higher is better. */
  scoreCandidates(batch: UserBatch, candidates: Int32Array, C: number): Float32Array;
  /** Scores of every item for each user: [size * (numItems + 1)]; index 0 (padding) is never a candidate. */
  scoreAll(batch: UserBatch): Float32Array;
}
