/** Evaluation cases and seeded yes/no training examples (methods/yesno.ts). */
import type { SplitDataset } from '../../data/types.js';
import { Mulberry32, mixSeed } from '../../util/random.js';
import type { Case } from '../collab.js';
import type { YesNoExample } from './types.js';

/** A seeded permutation of 0..n-1. */
export function shuffled(n: number, seed: number): number[] {
  const a = Array.from({ length: n }, (_, i) => i);
  const rng = new Mulberry32(seed);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rng.next() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

/** Evaluation cases of a split: each user's history, the target first, then the stored negatives. */
export function splitCases(data: SplitDataset, which: 'valid' | 'test', indices?: readonly number[]): Case[] {
  const s = data[which];
  if (s.numNegatives === 0) throw new Error(`yes/no evaluation needs sampled negatives in the ${which} split (protocol numNegatives > 0)`);
  const rows = indices ?? Array.from({ length: s.count }, (_, i) => i);
  return rows.map((u) => ({
    user: s.user[u],
    history: s.history.slice(u * s.L, (u + 1) * s.L),
    candidates: Int32Array.from([s.target[u], ...s.negatives.subarray(u * s.numNegatives, (u + 1) * s.numNegatives)]),
  }));
}

/** A seeded sample of n row indices of a split (sorted), or all rows when n >= count. */
export function sampleRows(count: number, n: number, seed: number): number[] {
  if (n >= count) return Array.from({ length: count }, (_, i) => i);
  return shuffled(count, seed).slice(0, n).sort((a, b) => a - b);
}

/**
 * Yes/no training examples from cases whose candidate 0 is the liked item:
 * the positive and `negativesPerPositive` of the other candidates (seeded).
 */
export function yesNoExamples(cases: readonly Case[], negativesPerPositive: number, seed: number): YesNoExample[] {
  const out: YesNoExample[] = [];
  const rng = new Mulberry32(mixSeed(seed, 31));
  cases.forEach((c, i) => {
    out.push({ caseIndex: i, cand: 0, label: 1 });
    const others = Array.from({ length: c.candidates.length - 1 }, (_, k) => k + 1);
    for (let k = 0; k < Math.min(negativesPerPositive, others.length); k++) {
      const j = k + Math.floor(rng.next() * (others.length - k));
      [others[k], others[j]] = [others[j], others[k]];
      out.push({ caseIndex: i, cand: others[k], label: 0 });
    }
  });
  return out;
}
