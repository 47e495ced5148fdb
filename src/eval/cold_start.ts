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

/**
 * The test (or validation) rows of a cold-start split by group (throws on a
 * split without cold-start information). Validation rows are cold only with
 * cold-aware validation (protocol.coldStart.validShare > 0); with it, a test
 * row whose target is a validation-cold item is in neither group.
 */
export function coldStartRows(data: SplitDataset, split: 'test' | 'valid' = 'test'): Record<TargetGroup, number[]> {
  const info = data.coldStart;
  if (!info) throw new Error(`${data.name}: not a cold-start split (set protocol.coldStart)`);
  const marks = split === 'test' ? info.testCold : info.validCold;
  if (marks.length !== data[split].count) throw new Error(`${data.name}: cold-start marks for ${marks.length} ${split} rows, the split has ${data[split].count}`);
  const out: Record<TargetGroup, number[]> = { warm: [], cold: [] };
  // Test rows marked 2 (a validation-cold target) belong to neither group.
  for (let r = 0; r < data[split].count; r++) if (marks[r] < 2) out[marks[r] ? 'cold' : 'warm'].push(r);
  return out;
}

/** The split restricted to one group's rows (null when the group is empty); build once when evaluating it repeatedly. */
export function groupSplit(data: SplitDataset, group: TargetGroup, split: 'test' | 'valid' = 'test'): SplitDataset | null {
  const rows = coldStartRows(data, split)[group];
  return rows.length === 0 ? null : subsetSplit(data, split, rows);
}

/** The metrics of one group of test (or validation) rows (count 0 and no metrics when the group is empty). */
export function evaluateGroup(model: Scorer, data: SplitDataset, group: TargetGroup, opts: EvalOptions, split: 'test' | 'valid' = 'test'): EvalResult {
  const sub = groupSplit(data, group, split);
  return sub ? evaluateRecommender(model, sub, split, opts) : { count: 0 };
}

/** Test metrics of every row, of the warm-target rows and of the cold-target rows. */
export function evaluateWarmCold(model: Scorer, data: SplitDataset, opts: EvalOptions): Record<'all' | TargetGroup, EvalResult> {
  return {
    all: evaluateRecommender(model, data, 'test', opts),
    warm: evaluateGroup(model, data, 'warm', opts),
    cold: evaluateGroup(model, data, 'cold', opts),
  };
}
