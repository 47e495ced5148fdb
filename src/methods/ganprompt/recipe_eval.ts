/**
 * The robustness evaluation of a recipe: its metrics on each template it was
 * trained on, and (unless an ablation restricted to its training templates)
 * on the other training templates and the unseen ones; one file per template
 * in models/<recipe>/eval/ (a resume skips finished ones).
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { RecipeName } from '../../config/ganprompt.js';
import type { MetricValues } from '../../eval/types.js';
import { evaluateRobustness, robustnessFrom, type RobustnessReport } from '../../eval/robustness.js';
import { readJson, writeJson } from '../../run/index.js';
import type { RecipePlan } from '../recipe.js';
import { rankingMetrics } from '../reference.js';
import type { YesNoLlm } from '../yesno.js';
import type { RecipeKit } from './kit.js';
import { timed } from './context.js';

export async function evaluateRecipe(kit: RecipeKit, recipe: RecipeName, plan: RecipePlan, m: YesNoLlm, rdir: string): Promise<RobustnessReport> {
  const { run } = kit;
  const { o, templates, evalCases, hooks, log } = run;
  const trained = kit.trainedTemplates(plan.templates).map((t) => t.id);
  const only = plan.ablation && o.ablationTemplates === 'trained';
  const unseen = only ? [] : templates.unseen.map((t) => t.id);
  const other = only ? [] : templates.seen.map((t) => t.id).filter((id) => !trained.includes(id));
  const all = new Map([...templates.seen, ...templates.unseen].map((t) => [t.id, t]));
  const evalOne = async (id: string): Promise<MetricValues> => {
    const f = join(rdir, 'eval', `${id}.json`);
    if (run.resume && existsSync(f)) return readJson<MetricValues>(f);
    const t = all.get(id)!;
    const scores = await timed(run, `eval:${recipe}`, () => m.score(evalCases, t, m.originalTitles, (d, n) => hooks.progress?.(`${recipe} eval ${id}`, d, n)));
    const metrics = rankingMetrics(scores, evalCases[0].candidates.length, o.eval.ks);
    mkdirSync(join(rdir, 'eval'), { recursive: true });
    writeJson(f, metrics);
    log(`  ${recipe} on ${id}: AUC ${metrics.auc.toFixed(4)}, HR@1 ${metrics['hr@1'].toFixed(4)}, NDCG@5 ${metrics['ndcg@5']?.toFixed(4) ?? '-'}`);
    return metrics;
  };
  if (unseen.length) return evaluateRobustness({ trained, unseen, other }, evalOne);
  const per = [];
  for (const id of trained) per.push({ template: id, group: 'trained' as const, metrics: await evalOne(id) });
  return robustnessFrom(per);
}
