/**
 * 5. of a RecSysLLM run: reference rows on the evaluation users. Constant
 * predictors beside rating prediction; Random, Pop and collaborative models
 * (src/methods/reference.ts) beside the ranking families, on the same users:
 * sequential = full ranking, direct = the stored sampled candidates.
 * Kept in baselines.json (reused when the baselines options and users match).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { reviewKey } from '../../data/reviews.js';
import { subsetSplit } from '../../data/subset.js';
import type { Recommender } from '../../models/types.js';
import { readJson, type Stage, writeJson } from '../../run/index.js';
import { metricsOn, referenceRows } from '../reference.js';
import type { BaselineRow, RecSysRun } from './context.js';
import { type TaskData, testInstances } from './tasks.js';

/**
 * Constant rating predictors on the evaluation instances, the rating family's
 * Random/Pop: the mean and the most frequent rating of the training part of
 * every sequence.
 */
export function ratingBaselines(tasks: TaskData, users: readonly number[]): BaselineRow[] {
  const train: number[] = [];
  tasks.data.trainSeqs.forEach((seq, u) => {
    for (const i of seq) { const r = tasks.ratings.get(reviewKey(u, i)); if (r !== undefined) train.push(r); }
  });
  const inst = testInstances(tasks, 'rating', users);
  if (train.length === 0 || inst.length === 0) return [];
  const mean = train.reduce((a, b) => a + b, 0) / train.length;
  const counts = new Map<number, number>();
  for (const r of train) counts.set(Math.round(r), (counts.get(Math.round(r)) ?? 0) + 1);
  const mode = [...counts.entries()].sort((a, b) => b[1] - a[1] || b[0] - a[0])[0][0];
  const score = (p: number) => {
    let se = 0;
    let ae = 0;
    for (const x of inst) { const e = p - x.rating!; se += e * e; ae += Math.abs(e); }
    return { rmse: Math.sqrt(se / inst.length), mae: ae / inst.length };
  };
  return [{ model: `training mean (${mean.toFixed(2)})`, rating: score(mean) }, { model: `training mode (${mode})`, rating: score(mode) }];
}

/** Random, Pop and the collaborative models on the same users, for the ranking families that ran. */
async function rankingBaselines(r: RecSysRun, rankingFams: string[]): Promise<BaselineRow[]> {
  const { o, data } = r;
  const evalData = subsetSplit(data, 'test', r.evalRows);
  const evaluate = (m: Recommender): Omit<BaselineRow, 'model'> => {
    const row: Omit<BaselineRow, 'model'> = {};
    if (rankingFams.includes('sequential')) row.sequential = metricsOn(m, evalData, 'test', { protocol: 'full', ks: [5, 10] });
    if (rankingFams.includes('direct')) row.direct = metricsOn(m, evalData, 'test', { protocol: 'sampled', ks: [1, 5, 10] });
    return row;
  };
  return referenceRows(data, {
    seed: o.seed, signal: r.hooks.signal, log: r.log,
    train: o.baselines.models.map((name) => ({ name, fit: { epochs: o.baselines.epochs, patience: o.baselines.patience, validMetric: 'ndcg@10', validProtocol: 'sampled' as const } })),
    dirs: o.baselines.dirs.map((dir) => ({ dir, label: (m: Recommender) => `${m.name} (${dir})` })),
  }, evaluate);
}

export const baselinesStage: Stage<RecSysRun> = {
  name: 'baselines',
  async run(r) {
    const { o, families, report } = r;
    const ratingRows = families.includes('rating') ? ratingBaselines(r.tasks, r.evalUsers) : [];
    const rankingFams = families.filter((f) => f === 'sequential' || f === 'direct');
    if (rankingFams.length > 0) {
      const baseFile = join(r.dir, 'baselines.json');
      const key = JSON.stringify({ ...o.baselines, users: r.evalUsers.length });
      const prev = existsSync(baseFile) ? readJson<{ key: string; rows: BaselineRow[] }>(baseFile) : undefined;
      if (prev && prev.key === key) {
        report.baselines = prev.rows;
      } else {
        report.baselines = await r.timer.timed('baselines', async () => {
          const rows = await rankingBaselines(r, rankingFams);
          writeJson(baseFile, { key, rows });
          return rows;
        });
      }
    }
    report.baselines = [...ratingRows, ...report.baselines];
    return 'done';
  },
};
