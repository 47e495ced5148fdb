/**
 * llmrec/eval: the evaluator (sampled and full ranking), the metrics
 * (docs/METHODS.md §2), Markdown reports and prompt-robustness summaries.
 */
export { evaluateRecommender, evaluateRecommenderInterruptible, evaluatePerUser, evaluatePerUserInterruptible, evaluateAll, sliceSplit } from './evaluate.js';
export type { EvalResult, EvalRow } from './evaluate.js';
export type { MetricValues, EvalOptions, Scorer } from './types.js';
export * from './metrics.js';
export { metricsTable, assertBaselinesPresent } from './report.js';
export type { ReportRow } from './report.js';
export { pairedTest, quantileSorted } from './significance.js';
export type { PairedTest, PairedTestOptions } from './significance.js';
export { evaluateRobustness, robustnessFrom, summarise } from './robustness.js';
export type { TemplateResult, GroupSummary, RobustnessReport } from './robustness.js';
export { evaluateWarmCold, evaluateGroup, coldStartRows } from './cold_start.js';
export type { TargetGroup } from './cold_start.js';
