/**
 * Reference rows of the LLM methods, written once: Random, Pop and
 * collaborative models evaluated on the SAME users and candidates as the
 * language models (GANPrompt/TALLRec/CoLLM, RecSysLLM, the small LM's
 * next-title ranking), and the ranking metrics of yes/no scores.
 */
import type { SplitDataset } from '../data/types.js';
import { evaluateRecommender } from '../eval/evaluate.js';
import { aucOne, MetricAccumulator, rankOfTarget } from '../eval/metrics.js';
import type { EvalOptions, MetricValues } from '../eval/types.js';
import { createRecommender, loadRecommender, modelEntry } from '../models/registry.js';
import type { FitOptions, Recommender } from '../models/types.js';

/** Ranking metrics of scores [cases * C] with the target at candidate 0 (pessimistic ties). */
export function rankingMetrics(scores: Float32Array, C: number, ks: readonly number[]): MetricValues {
  const acc = new MetricAccumulator(ks);
  for (let u = 0; u < scores.length / C; u++) {
    const s = scores.subarray(u * C, (u + 1) * C);
    acc.add(rankOfTarget(s, 0), aucOne(s, 0));
  }
  return acc.result();
}

/** A recommender's metrics on `split` of `data` without the case count. */
export function metricsOn(m: Recommender, data: SplitDataset, split: 'valid' | 'test', o: EvalOptions): MetricValues {
  const { count: _count, ...metrics } = evaluateRecommender(m, data, split, o);
  return metrics;
}

export interface ReferenceSources {
  seed: number;
  /** Models trained here on `data` after Random and Pop (fit options above the registry's defaults). */
  train?: ReadonlyArray<{ name: string; fit?: Partial<FitOptions> }>;
  /** Models already fitted by the caller (not disposed here). */
  fitted?: ReadonlyArray<{ label: string; model: Recommender }>;
  /** Saved model folders, with the row label of each loaded model. */
  dirs?: ReadonlyArray<{ dir: string; label: (m: Recommender) => string }>;
  signal?: AbortSignal;
  log?: (s: string) => void;
}

/**
 * Rows in a fixed order: Random, Pop (fitted on the training split of
 * `data`), the trained models, the fitted ones, the saved ones; each row is
 * `{ model: label, ...evaluate(model) }`.
 */
export async function referenceRows<M extends object>(data: SplitDataset, src: ReferenceSources, evaluate: (m: Recommender) => M): Promise<Array<{ model: string } & M>> {
  const rows: Array<{ model: string } & M> = [];
  const trained = [{ name: 'random' }, { name: 'pop' }, ...(src.train ?? []).filter((t) => t.name !== 'random' && t.name !== 'pop')];
  for (const t of trained) {
    const m = createRecommender(t.name);
    if (t.name !== 'random' && t.name !== 'pop') src.log?.(`baseline ${t.name}: training`);
    await m.fit(data, { ...modelEntry(t.name).fit, ...(t as { fit?: Partial<FitOptions> }).fit, seed: src.seed, signal: src.signal });
    rows.push({ model: t.name, ...evaluate(m) });
    m.dispose();
  }
  for (const f of src.fitted ?? []) rows.push({ model: f.label, ...evaluate(f.model) });
  for (const d of src.dirs ?? []) {
    const m = await loadRecommender(d.dir);
    rows.push({ model: d.label(m), ...evaluate(m) });
    m.dispose();
  }
  return rows;
}
