/**
 * Prompt-robustness evaluation for any LLM recommender whose input is a
 * prompt template (docs/METHODS.md §6, stage 2 step 5): every metric on each template, the
 * mean and standard deviation over the templates a model was trained on and
 * over held-out unseen templates, and the drop from one to the other.
 */
import type { MetricValues } from './types.js';

export interface TemplateResult {
  template: string;
  /** 'trained': a template the model was trained on; 'unseen': held out from every model; 'other': neither. */
  group: 'trained' | 'unseen' | 'other';
  metrics: MetricValues;
}

export interface GroupSummary {
  templates: string[];
  mean: MetricValues;
  /** Population standard deviation over the group's templates (0 for one template). */
  std: MetricValues;
}

export interface RobustnessReport {
  perTemplate: TemplateResult[];
  trained: GroupSummary;
  unseen: GroupSummary;
  /** trained.mean - unseen.mean, per metric (positive: worse on unseen templates). */
  drop: MetricValues;
  /** drop / trained.mean, per metric. */
  relativeDrop: MetricValues;
}

export function summarise(results: readonly TemplateResult[]): GroupSummary {
  const keys = results.length ? Object.keys(results[0].metrics) : [];
  const mean: MetricValues = {};
  const std: MetricValues = {};
  for (const k of keys) {
    const v = results.map((r) => r.metrics[k]);
    const m = v.reduce((a, b) => a + b, 0) / v.length;
    mean[k] = m;
    std[k] = Math.sqrt(v.reduce((a, b) => a + (b - m) * (b - m), 0) / v.length);
  }
  return { templates: results.map((r) => r.template), mean, std };
}

/**
 * Evaluates `evaluate(templateId)` on every template and summarises. The
 * trained and unseen groups must both be non-empty and disjoint.
 */
export async function evaluateRobustness(
  templates: { trained: readonly string[]; unseen: readonly string[]; other?: readonly string[] },
  evaluate: (templateId: string) => Promise<MetricValues> | MetricValues,
): Promise<RobustnessReport> {
  if (templates.trained.length === 0 || templates.unseen.length === 0) throw new Error('robustness: needs at least one trained and one unseen template');
  const overlap = templates.trained.filter((t) => templates.unseen.includes(t));
  if (overlap.length) throw new Error(`robustness: template(s) ${overlap.join(', ')} are both trained and unseen`);
  const perTemplate: TemplateResult[] = [];
  for (const [group, ids] of [['trained', templates.trained], ['unseen', templates.unseen], ['other', templates.other ?? []]] as const) {
    for (const id of ids) perTemplate.push({ template: id, group, metrics: await evaluate(id) });
  }
  return robustnessFrom(perTemplate);
}

/** The summary of per-template results (e.g. re-read from disk). */
export function robustnessFrom(perTemplate: TemplateResult[]): RobustnessReport {
  const trained = summarise(perTemplate.filter((r) => r.group === 'trained'));
  const unseen = summarise(perTemplate.filter((r) => r.group === 'unseen'));
  const drop: MetricValues = {};
  const relativeDrop: MetricValues = {};
  for (const k of Object.keys(trained.mean)) {
    drop[k] = trained.mean[k] - unseen.mean[k];
    relativeDrop[k] = trained.mean[k] === 0 ? 0 : drop[k] / trained.mean[k];
  }
  return { perTemplate, trained, unseen, drop, relativeDrop };
}
