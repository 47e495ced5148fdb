/**
 * A split restricted to some of its evaluation rows (same histories, targets
 * and stored candidates), e.g. the seeded sample of test users every model of
 * a method run is evaluated on.
 */
import type { SplitDataset } from './types.js';

/** The split with only the given rows of `which` (same candidates). */
export function subsetSplit(data: SplitDataset, which: 'valid' | 'test', rows: readonly number[]): SplitDataset {
  const s = data[which];
  const n = rows.length;
  const user = new Int32Array(n);
  const target = new Int32Array(n);
  const history = new Int32Array(n * s.L);
  const negatives = new Int32Array(n * s.numNegatives);
  rows.forEach((r, i) => {
    user[i] = s.user[r];
    target[i] = s.target[r];
    history.set(s.history.subarray(r * s.L, (r + 1) * s.L), i * s.L);
    negatives.set(s.negatives.subarray(r * s.numNegatives, (r + 1) * s.numNegatives), i * s.numNegatives);
  });
  return { ...data, [which]: { ...s, count: n, user, target, history, negatives } };
}
