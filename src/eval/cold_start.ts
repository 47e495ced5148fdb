/**
 * Warm / cold evaluation of the cold-start protocol (docs/METHODS.md §1.4):
 * the test rows of a split made by src/data/cold_start.ts are evaluated as a
 * whole and as two groups, the rows whose target is a warm item and those
 * whose target is a cold item (never seen in training). Same candidates,
 * histories and exclusions as `evaluateRecommender` (the groups are row
 * subsets of the split, src/data/subset.ts).
 */
import { subsetSplit } from '../data/subset.js';
import type { SplitDataset } from '../data/types.js';
import { evaluateRecommender, type EvalResult } from './evaluate.js';
import type { EvalOptions, Scorer } from './types.js';

export type TargetGroup = 'warm' | 'cold';

/** The test rows of a cold-start split by group (throws on a split without cold-start information). */
export function coldStartRows(data: SplitDataset): Record<TargetGroup, number[]> {
  const info = data.coldStart;
  if (!info) throw new Error(`${data.name}: not a cold-start split (set protocol.coldStart)`);
  if (info.testCold.length !== data.test.count) throw new Error(`${data.name}: cold-start marks for ${info.testCold.length} test rows, the split has ${data.test.count}`);
  const out: Record<TargetGroup, number[]> = { warm: [], cold: [] };
  for (let r = 0; r < data.test.count; r++) out[info.testCold[r] ? 'cold' : 'warm'].push(r);
  return out;
}

/** The test metrics of one group (count 0 and no metrics when the group is empty). */
export function evaluateGroup(model: Scorer, data: SplitDataset, group: TargetGroup, opts: EvalOptions): EvalResult {
  const rows = coldStartRows(data)[group];
  if (rows.length === 0) return { count: 0 };
  return evaluateRecommender(model, subsetSplit(data, 'test', rows), 'test', opts);
}

/** Test metrics of every row, of the warm-target rows and of the cold-target rows. */
export function evaluateWarmCold(model: Scorer, data: SplitDataset, opts: EvalOptions): Record<'all' | TargetGroup, EvalResult> {
  return {
    all: evaluateRecommender(model, data, 'test', opts),
    warm: evaluateGroup(model, data, 'warm', opts),
    cold: evaluateGroup(model, data, 'cold', opts),
  };
}
