/**
 * Contracts of the evaluation layer (implemented in evaluate.ts / metrics.ts).
 *
 * Metric names are lower-case strings: 'auc', 'hr@k', 'ndcg@k', 'mrr@k'
 * (k from EvalOptions.ks). Values are means over the evaluated users.
 */
export type MetricValues = Record<string, number>;

export interface EvalOptions {
  /** 'sampled': the target ranked against the split's stored negatives; 'full': against every item, history excluded. */
  protocol: 'sampled' | 'full';
  /** Cut-offs for hr/ndcg/mrr, e.g. [1, 3, 5] or [10, 20]. */
  ks: number[];
  /** Users per scoring batch (default 256). */
  batchSize?: number;
}
