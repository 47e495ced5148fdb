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
 * A seeded sample of n row indices of a split outside `exclude` (sorted): the
 * rows left once the selection sample is taken out, so that questions built
 * from them never share a user with the selection sample. All remaining rows
 * when n >= their count; an error when none remain.
 */
export function heldOutRows(count: number, exclude: readonly number[], n: number, seed: number): number[] {
  const skip = new Set(exclude);
  const rest: number[] = [];
  for (let i = 0; i < count; i++) if (!skip.has(i)) rest.push(i);
  if (rest.length === 0) throw new Error(`held-out rows: all ${count} rows are in the selection sample`);
  return sampleRows(rest.length, n, seed).map((k) => rest[k]);
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

/** A training question: a case built from a position of a user's training sequence. */
export interface TrainCase extends Case {
  /** Position of the target in the user's training sequence (data.trainSeqs[user]), >= 1. */
  position: number;
}

export interface TrainQuestionOptions {
  /** Users sampled (seeded) among those with at least two training items; all when larger. */
  users: number;
  /** Questions (target positions) per user, drawn without replacement; 0 = every position. */
  perUser: number;
  /** Sampled negatives per question (items the user never interacted with, distinct). */
  negatives: number;
  seed: number;
  /**
   * Each user's last `perUser` positions instead of a seeded sample: the
   * targets a cross-fitted collaborative model never saw (withholdTrainTail);
   * only users with more than `perUser` training items are sampled.
   */
  tail?: boolean;
  /** Users never sampled (another step's training users). */
  excludeUsers?: ReadonlySet<number>;
}

/**
 * Training questions from the TRAINING part of each sequence only
 * (docs/METHODS.md §1: the last two items are the validation and test
 * targets): for a sampled user u, `perUser` positions j >= 1 of
 * data.trainSeqs[u] (seeded, without replacement; with `tail` its last
 * `perUser` positions), each a case with the
 * L items before j as history (left-padded), trainSeqs[u][j] as candidate 0
 * and `negatives` items u never interacted with (anywhere in its full
 * sequence) as the others, drawn from mulberry32(mixSeed(seed, 0x7100 + u)).
 * So no validation or test target is a question's target, and a history
 * holds only items before its position.
 */
export function trainQuestions(data: SplitDataset, o: TrainQuestionOptions): TrainCase[] {
  const int = (k: string, x: number, min: number) => {
    if (!Number.isInteger(x) || x < min) throw new Error(`training questions: ${k} must be an integer >= ${min}, got ${x}`);
  };
  int('users', o.users, 1);
  int('perUser', o.perUser, 0);
  int('negatives', o.negatives, 1);
  const L = data.valid.L; // the evaluation cases' history length (collaborative batches need one length)
  if (o.tail && o.perUser < 1) throw new Error('training questions: tail positions need perUser >= 1');
  const minLength = o.tail ? o.perUser + 1 : 2;
  const eligible: number[] = [];
  data.trainSeqs.forEach((s, u) => { if (s.length >= minLength && !o.excludeUsers?.has(u)) eligible.push(u); });
  if (eligible.length === 0) throw new Error(`training questions: no user${o.excludeUsers?.size ? " outside the other step's" : ''} has ${minLength} or more training items`);
  const users = sampleRows(eligible.length, o.users, mixSeed(o.seed, 0x7000)).map((i) => eligible[i]);
  const out: TrainCase[] = [];
  for (const u of users) {
    const seq = data.trainSeqs[u];
    const seen = new Set(data.sequences[u]);
    for (const x of seq) seen.add(x);
    const free = data.numItems - seen.size;
    if (free < o.negatives) throw new Error(`training questions: user ${u} has only ${free} items it never interacted with, fewer than negatives ${o.negatives}`);
    const rng = new Mulberry32(mixSeed(o.seed, 0x7100 + u));
    // Positions 1..len-1 in a seeded order (partial Fisher-Yates), or the last perUser ones.
    const pos = Array.from({ length: seq.length - 1 }, (_, i) => i + 1);
    const n = o.perUser === 0 ? pos.length : Math.min(o.perUser, pos.length);
    if (o.tail) pos.splice(0, pos.length - n);
    else for (let k = 0; k < n; k++) {
      const j = k + Math.floor(rng.next() * (pos.length - k));
      [pos[k], pos[j]] = [pos[j], pos[k]];
    }
    for (const p of pos.slice(0, n).sort((a, b) => a - b)) {
      const history = new Int32Array(L);
      const h = seq.subarray(Math.max(0, p - L), p);
      history.set(h, L - h.length);
      const cands = new Int32Array(1 + o.negatives);
      cands[0] = seq[p];
      const picked = new Set<number>();
      for (let k = 1; k <= o.negatives; k++) {
        let x: number;
        do x = 1 + Math.floor(rng.next() * data.numItems); while (seen.has(x) || picked.has(x));
        picked.add(x);
        cands[k] = x;
      }
      out.push({ user: u, history, candidates: cands, position: p });
    }
  }
  return out;
}
