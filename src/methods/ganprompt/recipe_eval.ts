/**
 * The robustness evaluation of a recipe: its metrics on each template it was
 * trained on, and (unless an ablation restricted to its training templates)
 * on the other training templates and the unseen ones; one file per template
 * in models/<recipe>/eval/ (a resume skips finished ones), with the per-user
 * ranks beside it (<template>.users.json). From those, the paired tests of
 * the recipe against each reference row (docs/METHODS.md §2.6).
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { RecipeName } from '../../config/ganprompt.js';
import type { MetricValues } from '../../eval/types.js';
import { metricsOfPerUser, perUserFromJson, perUserMetric, perUserRanking, type PerUserRanking, sameUsers } from '../../eval/metrics.js';
import { evaluateRobustness, robustnessFrom, type RobustnessReport } from '../../eval/robustness.js';
import { pairedTest, type PairedTest } from '../../eval/significance.js';
import { portablePath, readJson, writeJson } from '../../run/index.js';
import { mixSeed } from '../../util/random.js';
import type { RecipePlan } from '../recipe.js';
import type { YesNoLlm } from '../yesno.js';
import type { RecipeKit } from './kit.js';
import { timed, type RecipeSignificance, type YesNoRun } from './context.js';

export interface RecipeEvaluation {
  robustness: RobustnessReport;
  /** Against each reference row; absent when their per-user values are not known (no baselines stage in this process). */
  significance?: RecipeSignificance[];
}

/** Thrown inside evaluateRecipe when the signal aborts a template's scoring; evaluateRecipe returns 'interrupted' for it. */
class EvaluationInterrupted extends Error {}

/** 'interrupted' when the signal stopped it: the templates already scored are on disk, and a resume scores the rest. */
export async function evaluateRecipe(kit: RecipeKit, recipe: RecipeName, plan: RecipePlan, m: YesNoLlm, rdir: string): Promise<RecipeEvaluation | 'interrupted'> {
  const { run } = kit;
  const { o, templates, evalCases, hooks, log } = run;
  const trained = kit.trainedTemplates(plan.templates).map((t) => t.id);
  const only = plan.ablation && o.ablationTemplates === 'trained';
  const unseen = only ? [] : templates.unseen.map((t) => t.id);
  const other = only ? [] : templates.seen.map((t) => t.id).filter((id) => !trained.includes(id));
  const all = new Map([...templates.seen, ...templates.unseen].map((t) => [t.id, t]));
  const users = evalCases.map((c) => c.user);
  const perUser = new Map<string, PerUserRanking>();
  const evalOne = async (id: string): Promise<MetricValues> => {
    const f = join(rdir, 'eval', `${id}.json`);
    const fu = join(rdir, 'eval', `${id}.users.json`);
    if (run.resume && existsSync(f) && existsSync(fu)) {
      const pu = perUserFromJson(readJson<unknown>(fu), users);
      if (pu) {
        perUser.set(id, pu);
        return readJson<MetricValues>(f);
      }
      log(`  ${recipe} on ${id}: ${portablePath(fu, run.dir)} does not hold a rank and an AUC for each of the ${users.length} evaluation users in order: scored again`);
    } else if (run.resume && existsSync(f)) log(`  ${recipe} on ${id}: ${portablePath(fu, run.dir)} missing (made before per-user ranks were kept): scored again`);
    const t = all.get(id)!;
    const scores = await timed(run, `eval:${recipe}`, () => m.scoreInterruptible(evalCases, t, m.originalTitles, { signal: hooks.signal, onProgress: (d, n) => hooks.progress?.(`${recipe} eval ${id}`, d, n) }));
    if (!scores) throw new EvaluationInterrupted(`${recipe} on ${id}: interrupted`);
    const pu = perUserRanking(scores, evalCases[0].candidates.length, users);
    const metrics = metricsOfPerUser(pu, o.eval.ks);
    mkdirSync(join(rdir, 'eval'), { recursive: true });
    // The per-user file first: a resume reuses a template only when both exist.
    writeJson(fu, pu);
    writeJson(f, metrics);
    perUser.set(id, pu);
    log(`  ${recipe} on ${id}: AUC ${metrics.auc.toFixed(4)}, HR@1 ${metrics['hr@1'].toFixed(4)}, NDCG@5 ${metrics['ndcg@5']?.toFixed(4) ?? '-'}`);
    return metrics;
  };
  let robustness: RobustnessReport;
  try {
    if (unseen.length) robustness = await evaluateRobustness({ trained, unseen, other }, evalOne);
    else {
      const per = [];
      for (const id of trained) per.push({ template: id, group: 'trained' as const, metrics: await evalOne(id) });
      robustness = robustnessFrom(per);
    }
  } catch (e) {
    if (e instanceof EvaluationInterrupted) return 'interrupted';
    throw e;
  }
  const significance = againstReferences(run, trained.map((id) => perUser.get(id)!), recipe);
  const src = significance?.find((x) => x.source);
  if (src) {
    const a = src.tests.auc;
    log(`  ${recipe} against ${src.against}: AUC ${a.meanDiff >= 0 ? '+' : ''}${a.meanDiff.toFixed(4)} (95 % interval ${a.ci95[0].toFixed(4)} .. ${a.ci95[1].toFixed(4)}, p ${a.pValue.toFixed(4)}, ${a.n} users)`);
  }
  return { robustness, significance };
}

/**
 * The paired tests of a recipe (its per-user value: the mean over its trained
 * templates) against each reference row, for 'auc' and every 'ndcg@k'.
 * Undefined when the reference rows' per-user values are unknown.
 */
export function againstReferences(run: Pick<YesNoRun, 'o' | 'referencePerUser'>, trained: readonly PerUserRanking[], recipe: string): RecipeSignificance[] | undefined {
  const refs = run.referencePerUser;
  if (!refs || refs.length === 0 || trained.length === 0) return undefined;
  const users = refs[0].values.users;
  for (const p of [...trained, ...refs.map((x) => x.values)]) {
    if (!sameUsers(p.users, users)) {
      throw new Error(`${recipe}: its evaluation users differ from the reference rows' (${p.users.length} against ${users.length}); the paired tests need the same users in the same order`);
    }
  }
  const metrics = ['auc', ...run.o.eval.ks.map((k) => `ndcg@${k}`)];
  const mine = new Map(metrics.map((metric) => {
    const per = trained.map((p) => perUserMetric(p, metric));
    return [metric, per[0].map((_, i) => per.reduce((s, v) => s + v[i], 0) / per.length)];
  }));
  return refs.map((ref) => {
    const tests: Record<string, PairedTest> = {};
    for (const metric of metrics) tests[metric] = pairedTest(mine.get(metric)!, perUserMetric(ref.values, metric), { seed: mixSeed(run.o.seed, 301) });
    return { against: ref.label, source: ref.source, users: users.length, tests };
  });
}
